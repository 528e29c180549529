import Foundation
import GrantDomain

/// Foundation's `JSONDecoder` reading times as events store them: the
/// reference the payload decoder is held against.
public enum FoundationDecoding {
    public static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let date = try? CivilTime.parse(text).get().date else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a time"))
            }
            return date
        }
        return decoder
    }()
}
