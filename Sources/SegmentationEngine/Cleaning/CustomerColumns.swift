import Foundation

/// Which columns of a customers table to use.
public struct CustomerColumns: Codable, Sendable, Equatable {
    /// The id column; nil finds one named like `CustomerID`, `CUST_ID` or `id`, else rows are numbered.
    public var id: String?
    /// Columns to cluster on; nil takes every column but the id. Text columns are one-hot encoded.
    public var features: [String]?
    /// Columns to treat as sensitive beyond the built-in list (`SensitiveAttributes`).
    public var sensitive: [String]?
    /// Sensitive columns the user explicitly allows clustering on. They still never appear in
    /// segment names or actions.
    public var allowSensitive: [String]?

    public init(
        id: String? = nil, features: [String]? = nil, sensitive: [String]? = nil,
        allowSensitive: [String]? = nil
    ) {
        self.id = id
        self.features = features
        self.sensitive = sensitive
        self.allowSensitive = allowSensitive
    }
}

/// Attributes a segmentation must not target people by: protected characteristics in
/// fair-lending and anti-discrimination law. A column is sensitive when a word of its name
/// (split at anything but letters and digits and between camel-case words, case ignored) is in
/// `terms` or `wordTerms`, when its lowercased name contains a term of six letters or more (`maritalstatus`),
/// or when the user names it.
public enum SensitiveAttributes {
    public static let terms: Set<String> = [
        "gender", "sex", "sexual", "orientation", "race", "racial", "ethnicity", "ethnic",
        "religion", "religious",
        "faith", "marital", "married", "marriage", "spouse", "nationality", "citizenship",
        "citizen", "immigration",
        "disability", "disabled", "handicap", "pregnant", "pregnancy", "caste", "tribe",
        // Age is protected in lending and employment law (and date of birth gives it away).
        "birthday", "birthdate", "dateofbirth", "veteran", "genetic",
    ]
    /// Matched as whole words only: "usage" is no age, "international" no national origin.
    public static let wordTerms: Set<String> = [
        "age", "aged", "dob", "birth", "born", "national", "origin",
    ]

    public static func isSensitive(_ column: String, extra: [String] = []) -> Bool {
        if extra.contains(where: { $0.caseInsensitiveCompare(column) == .orderedSame }) {
            return true
        }
        let lower = column.lowercased()
        return words(column).contains { terms.contains($0) || wordTerms.contains($0) }
            || terms.contains { $0.count >= 6 && lower.contains($0) }
    }

    /// "MaritalStatus" -> marital, status; "GENDER_CODE" -> gender, code.
    static func words(_ name: String) -> [String] {
        var words: [String] = []
        var current = ""
        var previous: Character?
        for character in name {
            if !character.isLetter && !character.isNumber {
                if !current.isEmpty { words.append(current) }
                current = ""
            } else {
                if character.isUppercase, let previous, previous.isLowercase, !current.isEmpty {
                    words.append(current)
                    current = ""
                }
                current.append(character)
            }
            previous = character
        }
        if !current.isEmpty { words.append(current) }
        return words.map { $0.lowercased() }
    }
}
