/// What happened to the input on its way to features. It travels with the model, so every
/// number a model shows can be traced back to what was read and what was removed, and why.
public struct DataReport: Codable, Sendable, Equatable {
    public var kind: InputKind
    public var sources: [String] = []
    public var rowsIn = 0
    public var customersIn = 0
    public var steps: [CleaningStep] = []
    public var rowsOut = 0
    public var customersOut = 0
    /// The first few rows that could not be read, with where and why.
    public var problems: [RowProblem] = []
    public var firstDate: String?
    public var lastDate: String?
    public var snapshotDate: String?
    /// Customers tables: missing numbers replaced by the column median, per column.
    public var imputed: [ImputedColumn] = []
    /// Customers tables: text columns left out because they hold free text, not categories.
    public var ignoredColumns: [String] = []

    public init(kind: InputKind) { self.kind = kind }

    /// Rows removed by the named step (0 when the step did not run).
    public func removed(by step: CleaningStep.Name) -> Int {
        steps.first { $0.name == step }?.removed ?? 0
    }

    public static let maximumProblemsKept = 20
}

public struct CleaningStep: Codable, Sendable, Equatable {
    public enum Name: String, Codable, Sendable, CaseIterable {
        case missingCustomer = "missing customer id"
        case unparseable = "unparseable row"
        case cancellation = "cancellation"
        case nonPositive = "non-positive quantity or price"
        case duplicate = "exact duplicate row"
    }
    public var name: Name
    public var removed: Int
    /// Rows left after this step (and all before it).
    public var remaining: Int
}

public struct RowProblem: Codable, Sendable, Equatable {
    public var source: String
    public var line: Int
    public var reason: String
}

public struct ImputedColumn: Codable, Sendable, Equatable {
    public var column: String
    public var count: Int
    public var median: Double
}
