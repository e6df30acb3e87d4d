#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A closed set of named values: an enum whose cases are spelt by their `String` raw values in
/// files, JSON and on the command line. Reading a name that is not one of them is an error that
/// lists the valid names (never a silent default).
///
/// Conforming is one line, `enum Layout: String, NamedChoice { case original, preLN, postLN }`;
/// `Codable` comes with it, and decoding an unknown name throws `DecodingError.dataCorrupted`
/// whose description lists the valid names (`decodingMessage` prefixes the field's path).
public protocol NamedChoice: RawRepresentable, CaseIterable, Codable, Sendable, Hashable
where RawValue == String {}

extension NamedChoice {
    /// The valid names, in declaration order, comma-separated (for messages).
    public static var validNames: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// The case named `name`.
    /// - Throws: `NamedChoiceError` naming `field`, the value given and the valid names.
    public init(parsing name: String, field: String) throws(NamedChoiceError) {
        guard let value = Self(rawValue: name) else {
            throw NamedChoiceError(field: field, value: name, validNames: Self.allCases.map(\.rawValue))
        }
        self = value
    }

    /// Decodes the case from its name.
    /// - Throws: `DecodingError.dataCorrupted` listing the valid names when the name is not one.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let name = try container.decode(String.self)
        guard let value = Self(rawValue: name) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "must be one of \(Self.validNames), got '\(clipped(name))'")
        }
        self = value
    }

    /// Encodes the case as its name.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// A name that is not one of a `NamedChoice`'s cases.
public struct NamedChoiceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The field, option or key that held the name.
    public var field: String
    /// The name given (clipped in `description`).
    public var value: String
    /// The names that are valid there.
    public var validNames: [String]

    public init(field: String, value: String, validNames: [String]) {
        self.field = field
        self.value = value
        self.validNames = validNames
    }

    public var description: String {
        "\(field) must be one of \(validNames.joined(separator: ", ")), got '\(clipped(value))'"
    }
}
