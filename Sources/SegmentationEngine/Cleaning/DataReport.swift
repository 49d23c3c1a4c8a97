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
    /// Columns no role or feature reads (transactions: e.g. Description; nil in older models).
    public var unusedColumns: [String]?
    /// Customers tables: columns that identify rows (unique per row, or named like an id),
    /// left out of the features unless named.
    public var identifierColumns: [String]?
    /// Customers tables: sensitive attributes found (gender, ethnicity...), left out of the
    /// features unless opted in, and reported per segment for fairness audits.
    public var sensitiveColumns: [String]?
    /// Transactions: the spend netted away by cancellation invoices (nil when not netted).
    public var cancelledAmount: Double?
    /// Transactions: customers left out because their cancellations cancel all they bought.
    public var customersWithoutNetSpend: Int?

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
        /// A status column says the order was cancelled, refunded, returned or failed; `rule`
        /// names the column and the values found.
        case cancelledStatus = "cancelled status"
        /// Cancellation invoices: not purchases; netted against the customer's spend.
        case cancellation = "cancellation"
        case nonPositive = "non-positive quantity or price"
        case duplicate = "exact duplicate row"
        /// Rows of customers whose cancellations cancel all they bought (net spend <= 0).
        case noNetSpend = "no net spend"
        /// A user's --include/--exclude filter; `rule` says which.
        case filtered = "row filter"
    }
    public var name: Name
    /// For filter steps: the filter ("exclude Order Status=Cancelled").
    public var rule: String?
    public var removed: Int
    /// Rows left after this step (and all before it).
    public var remaining: Int

    public init(name: Name, removed: Int, remaining: Int, rule: String? = nil) {
        self.name = name
        self.removed = removed
        self.remaining = remaining
        self.rule = rule
    }

    /// The built-in steps, in the order they run (after any filters).
    public static let standardSteps: [Name] = [
        .missingCustomer, .unparseable, .cancelledStatus, .cancellation, .nonPositive, .duplicate,
        .noNetSpend,
    ]
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
