import Foundation

extension UUID {
    /// `uuidString` in lower case, as stream names spell ids. Foundation's
    /// `uuidString` formats through sprintf on Linux, and a command names
    /// several streams: this writes the 36 characters directly.
    public var lowercasedText: String {
        String(unsafeUninitializedCapacity: 36) { buffer in
            var count = 0
            UUIDText.write(self, digits: HexDigits.lower) { buffer[count] = $0; count += 1 }
            return count
        }
    }
}

/// ASCII hex digits by value, for the encoders.
package enum HexDigits {
    package static let lower = Array("0123456789abcdef".utf8)
    package static let upper = Array("0123456789ABCDEF".utf8)
}

/// The 8-4-4-4-12 hex form of a UUID, a byte at a time.
package enum UUIDText {
    package static func write(_ uuid: UUID, digits: [UInt8], _ emit: (UInt8) -> Void) {
        withUnsafeBytes(of: uuid.uuid) { bytes in
            for (index, byte) in bytes.enumerated() {
                if index == 4 || index == 6 || index == 8 || index == 10 { emit(UInt8(ascii: "-")) }
                emit(digits[Int(byte >> 4)])
                emit(digits[Int(byte & 0xF)])
            }
        }
    }
}
