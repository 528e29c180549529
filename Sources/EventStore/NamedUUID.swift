import Crypto
import Foundation

extension UUID {
    /// A UUID derived from a name (SHA-256, version 8 layout): the same name
    /// gives the same id on every run.
    public static func named(_ name: String) -> UUID {
        var bytes = Array(SHA256.hash(data: Data("grantledger:\(name)".utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x80
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}
