/// A customer moving from one segment to another under a live model, and why.
public struct SegmentMove: Sendable, Equatable {
    public enum Cause: String, Sendable, Equatable {
        /// Their own transactions (or refunds) changed their features.
        case transaction
        /// Days passed: recency and tenure grew with no event of theirs.
        case timePassing = "time_passing"
        /// The model changed (an alias moved to another version).
        case modelChange = "model_change"
    }

    public var customerID: String
    /// nil: the customer had no segment before (a first purchase).
    public var from: Int?
    /// nil: the customer has none now (refunds outweigh their purchases).
    public var to: Int?
    public var cause: Cause
    /// The day the move was seen as of (days since 1970).
    public var day: Int

    public init(customerID: String, from: Int?, to: Int?, cause: Cause, day: Int) {
        (self.customerID, self.from, self.to, self.cause, self.day) = (
            customerID, from, to, cause, day
        )
    }
}

/// Which segment every customer of a `LiveCustomerStore` is in under one model, kept up to date
/// as batches arrive, days pass and the model changes; each change is a `SegmentMove`. A customer
/// is evaluated at most once per day by time passing, however often `advance` is called.
public struct LiveSegments: Sendable {
    public private(set) var model: SegmentationModel
    public private(set) var segmentOf: [String: Int] = [:]
    /// The day each customer was last evaluated as of.
    public private(set) var evaluatedDay: [String: Int] = [:]

    public init(model: SegmentationModel) { self.model = model }

    /// Re-evaluates the customers a batch changed (`LiveCustomerStore.Applied.customers`) as of
    /// `day`: the moves their transactions caused.
    public mutating func update(
        _ customers: Set<String>, in store: LiveCustomerStore, day: Int
    ) throws -> [SegmentMove] {
        try evaluate(customers.sorted(), in: store, day: day, cause: .transaction)
    }

    /// Moves the clock to `day`: every customer last evaluated before it is evaluated again; the
    /// moves are time's alone (their transactions were evaluated when they came).
    public mutating func advance(in store: LiveCustomerStore, to day: Int) throws -> [SegmentMove] {
        let due = store.customers.keys.filter { (evaluatedDay[$0] ?? Int.min) < day }.sorted()
        return try evaluate(due, in: store, day: day, cause: .timePassing)
    }

    /// Puts every customer under `model` instead (an alias switch) as of `day`.
    public mutating func switchModel(
        to model: SegmentationModel, in store: LiveCustomerStore, day: Int
    ) throws -> [SegmentMove] {
        self.model = model
        return try evaluate(store.customers.keys.sorted(), in: store, day: day, cause: .modelChange)
    }

    private mutating func evaluate(
        _ ids: [String], in store: LiveCustomerStore, day: Int, cause: SegmentMove.Cause
    ) throws -> [SegmentMove] {
        let now = try store.segments(of: ids, under: model, day: day)
        var moves: [SegmentMove] = []
        for id in ids {
            evaluatedDay[id] = day
            let to = now[id]
            let from: Int?
            if let to {
                from = segmentOf.updateValue(to, forKey: id)
            } else {
                from = segmentOf.removeValue(forKey: id)
            }
            if from != to {
                moves.append(
                    SegmentMove(customerID: id, from: from, to: to, cause: cause, day: day))
            }
        }
        return moves
    }
}
