import Foundation

/// Figures for many customers at once. A customer's expected purchases are the purchases a
/// customer still alive would make, which depend on (frequency, age) alone and cost a
/// hypergeometric series, times their P(alive), which is cheap: the series is summed once per
/// distinct (frequency, age) (a few thousand among a million customers with ages in whole days),
/// and the rest runs on every core.
/// What the bulk paths need to know of many summaries, found in one pass.
struct SummaryShape {
    var maxFrequency = 0
    var maxDay = 0.0
    /// Every age and recency a whole, non-negative number of days (below a million).
    var wholeDays = true

    init(_ customers: [PurchaseSummary]) {
        for c in customers {
            maxFrequency = max(maxFrequency, c.frequency)
            maxDay = max(maxDay, c.age, c.recency)
            if wholeDays
                && !(c.age == c.age.rounded() && c.recency == c.recency.rounded()
                    && c.recency >= 0 && c.age >= 0)
            {
                wholeDays = false
            }
        }
        wholeDays = wholeDays && maxDay < 1e6 && maxFrequency < 1 << 20
    }
}

struct DistinctPairs {
    /// Each customer's index into `pairs`.
    var index: [Int]
    var pairs: [(frequency: Int, age: Double)]

    init(_ customers: [PurchaseSummary], shape: SummaryShape) {
        index = []
        index.reserveCapacity(customers.count)
        pairs = []
        let width = Int(shape.maxDay) + 1
        if shape.wholeDays, (shape.maxFrequency + 1) * width <= 4_000_000 {
            // Ages in whole days: a flat table, no hashing, left uninitialised (a sparse set: a
            // slot is trusted only when the pair it points to is its own), so a small batch does
            // not pay for clearing a large table.
            let size = (shape.maxFrequency + 1) * width
            let slots = UnsafeMutablePointer<Int32>.allocate(capacity: size)
            defer { slots.deallocate() }
            var keys: [Int] = []
            keys.reserveCapacity(customers.count)
            pairs.reserveCapacity(customers.count)
            for customer in customers {
                let key = customer.frequency &* width &+ Int(customer.age)
                let known = Int(slots[key])
                if known >= 0 && known < keys.count && keys[known] == key {
                    index.append(known)
                } else {
                    slots[key] = Int32(pairs.count)
                    keys.append(key)
                    index.append(pairs.count)
                    pairs.append((customer.frequency, customer.age))
                }
            }
        } else {
            var seen: [PairKey: Int] = [:]
            for customer in customers {
                let key = PairKey(frequency: customer.frequency, age: customer.age)
                if let known = seen[key] {
                    index.append(known)
                } else {
                    seen[key] = pairs.count
                    index.append(pairs.count)
                    pairs.append((customer.frequency, customer.age))
                }
            }
        }
    }

    private struct PairKey: Hashable {
        var frequency: Int
        var age: Double
    }

    /// `body(i)` for every pair, on all cores, in order-independent slots.
    func map<T>(_ body: (Int, Double) -> T, empty: T) -> [T] {
        var out = [T](repeating: empty, count: pairs.count)
        out.withUnsafeMutableBufferPointer { buffer in
            let base = UnsafeMutableBufferPointerBox(buffer)
            // Chunks large enough that a small batch stays on this thread.
            Parallel.forEach(Parallel.chunkCount(rows: pairs.count, rowsPerChunk: 2048)) { chunk in
                for i in Parallel.chunkRange(chunk, rows: pairs.count, rowsPerChunk: 2048) {
                    base.buffer[i] = body(pairs[i].frequency, pairs[i].age)
                }
            }
        }
        return out
    }
}

/// P(alive) for many customers: with times in whole days the logarithms come from tables (of
/// ln(α + day), and of ln(a / (b + x - 1)) by frequency), leaving one exponential per customer.
struct AliveProbabilities {
    let model: BetaGeometricNBD
    private var logTime: [Double] = []
    private var logOdds: [Double] = []

    init(_ model: BetaGeometricNBD, shape: SummaryShape) {
        self.model = model
        guard shape.wholeDays else { return }
        logTime = (0...Int(shape.maxDay)).map { log(model.alpha + Double($0)) }
        logOdds = (0...shape.maxFrequency).map { log(model.a / (model.b + Double($0) - 1)) }
    }

    func callAsFunction(_ customer: PurchaseSummary) -> Double {
        guard !logTime.isEmpty else { return model.probabilityAlive(customer) }
        guard customer.frequency > 0 else { return 1 }
        let x = Double(customer.frequency)
        let odds =
            logOdds[customer.frequency]
            + (model.r + x) * (logTime[Int(customer.age)] - logTime[Int(customer.recency)])
        return 1 / (1 + exp(odds))
    }
}

/// The Euler-form series of `alivePurchases` for many (frequency, age, horizon) at once. Its
/// coefficients depend on the frequency alone (z carries the age and the horizon), so they are
/// made once per frequency, with as many terms as its largest z needs, and each figure is then a
/// polynomial in z (Horner: no division), a fraction of a series' cost.
struct AliveSeries {
    let model: BetaGeometricNBD
    private var coefficients: [[Double]]
    /// Per frequency, the terms z needs, by z's sixteenth of the frequency's largest z (an older
    /// customer's smaller z needs fewer terms than the youngest's).
    private var lengths: [[Int]]
    private var zMax: [Double]
    static let bins = 16

    /// For the frequencies of `pairs`, horizons up to `maxHorizon`.
    init(_ model: BetaGeometricNBD, pairs: [(frequency: Int, age: Double)], maxHorizon: Double) {
        self.model = model
        let maxFrequency = pairs.map(\.frequency).max() ?? 0
        var youngest = [Double](repeating: .infinity, count: maxFrequency + 1)
        for pair in pairs { youngest[pair.frequency] = min(youngest[pair.frequency], pair.age) }
        let (a, b, r) = (model.a, model.b, model.r)
        zMax = youngest.map { age in
            age.isFinite && maxHorizon > 0 ? maxHorizon / (model.alpha + age + maxHorizon) : 0
        }
        coefficients = youngest.enumerated().map { x, age in
            guard age.isFinite, maxHorizon > 0 else { return [] }
            let zMax = maxHorizon / (model.alpha + age + maxHorizon)
            let (p, q) = (a + b - 1 - r, a - 1)
            var c = a + b + Double(x) - 1
            if c <= 0 && c == c.rounded() { c += 1e-9 }
            var terms = [1.0]
            var term = 1.0, sum = 1.0, n = 0.0
            while n < 100_000 {
                let ratio = (p + n) * (q + n) / ((c + n) * (n + 1))
                let coefficient = terms[terms.count - 1] * ratio
                terms.append(coefficient)
                term *= ratio * zMax
                sum += term
                n += 1
                if term == 0 { break }
                let bound = max(abs(ratio * zMax), zMax)
                // To 1e-16 of the sum: a double's precision, and no term more.
                if bound < 1 && n > -min(p, q, c) && abs(term) <= 1e-16 * (1 - bound) * abs(sum) {
                    break
                }
            }
            return terms
        }
        lengths = zip(coefficients, zMax).map { terms, zMax in
            guard !terms.isEmpty else { return [] }
            // The first n from which every later term is below 1e-16 of the largest sum (1
            // or so) at that bin's top z: scanned from the end, where the terms are smallest.
            return (1...Self.bins).map { bin in
                let z = zMax * Double(bin) / Double(Self.bins)
                var n = terms.count - 1, power = pow(z, Double(n))
                while n > 0 && abs(terms[n - 1]) * power / max(z, 1e-300) <= 1e-17 * (1 - z) {
                    n -= 1
                    power /= max(z, 1e-300)
                }
                return min(terms.count, n + 1)
            }
        }
    }

    /// `model.alivePurchases(frequency:age:horizon:)`, for a frequency of the pairs and a horizon
    /// up to the maximum given.
    func callAsFunction(frequency: Int, age: Double, horizon: Double) -> Double {
        guard horizon > 0 else { return 0 }
        let (a, b) = (model.a, model.b)
        let z = horizon / (model.alpha + age + horizon)
        let terms = coefficients[frequency]
        let bin = min(
            Self.bins - 1,
            max(0, Int((z / max(zMax[frequency], 1e-300) * Double(Self.bins)).rounded(.up)) - 1))
        let count = lengths[frequency][bin]
        var hyper = terms[count - 1]
        for n in stride(from: count - 2, through: 0, by: -1) { hyper = hyper * z + terms[n] }
        let c = a + b + Double(frequency) - 1
        return c / (a - 1) * (1 - pow(1 - z, a - 1) * hyper)
    }
}

/// Lets each chunk of a parallel loop write its own slots of one buffer.
struct UnsafeMutableBufferPointerBox<T>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<T>
    init(_ buffer: UnsafeMutableBufferPointer<T>) { self.buffer = buffer }
}

extension BetaGeometricNBD {
    /// The expected purchases in `horizon` of a customer still alive at the snapshot (eq. 10 of
    /// the paper without its P(alive) factor): `expectedPurchases` = this x P(alive).
    ///
    /// With z = h / (α + T + h), eq. 10 needs (1 - z)^(r+x) ₂F₁(r + x, b + x; a + b + x - 1; z);
    /// Euler's transformation turns it into (1 - z)^(a-1) ₂F₁(a + b - 1 - r, a - 1; a + b + x - 1;
    /// z), whose terms shrink fast (a - 1 is small, and c grows with x): a few terms where the
    /// direct series needs fifty.
    func alivePurchases(frequency: Int, age: Double, horizon: Double) -> Double {
        guard horizon > 0 else { return 0 }
        let x = Double(frequency)
        let z = horizon / (alpha + age + horizon)
        let hyper = Special.hypergeometric2F1(a + b - 1 - r, a - 1, a + b + x - 1, z)
        return (a + b + x - 1) / (a - 1) * (1 - pow(1 - z, a - 1) * hyper)
    }

    /// Every customer's P(alive) and expected purchases in `horizon`, as `probabilityAlive` and
    /// `expectedPurchases` give them one by one.
    public func probabilityAliveAndExpectedPurchases(
        _ customers: [PurchaseSummary], horizon: Double
    ) -> (alive: [Double], purchases: [Double]) {
        let shape = SummaryShape(customers)
        let pairs = DistinctPairs(customers, shape: shape)
        let series = AliveSeries(self, pairs: pairs.pairs, maxHorizon: horizon)
        let alive = pairs.map({ series(frequency: $0, age: $1, horizon: horizon) }, empty: 0.0)
        let probabilityAlive = AliveProbabilities(self, shape: shape)
        var probability = [Double](repeating: 0, count: customers.count)
        var purchases = [Double](repeating: 0, count: customers.count)
        probability.withUnsafeMutableBufferPointer { p in
            purchases.withUnsafeMutableBufferPointer { e in
                let (p, e) = (UnsafeMutableBufferPointerBox(p), UnsafeMutableBufferPointerBox(e))
                Parallel.forEach(Parallel.chunkCount(rows: customers.count, rowsPerChunk: 8192)) {
                    chunk in
                    for i in Parallel.chunkRange(chunk, rows: customers.count, rowsPerChunk: 8192) {
                        let q = probabilityAlive(customers[i])
                        p.buffer[i] = q
                        e.buffer[i] = alive[pairs.index[i]] * q
                    }
                }
            }
        }
        return (probability, purchases)
    }
}

extension CustomerValueModel {
    /// Every customer's figures, as `figures(_:settings:)` gives them one by one: the expected
    /// purchases over the horizon and the discounted value factor computed once per distinct
    /// (frequency, age).
    public func figures(
        _ customers: [PurchaseSummary], settings: ValueSettings = .init()
    ) -> [CustomerValueFigures] {
        let shape = SummaryShape(customers)
        let pairs = DistinctPairs(customers, shape: shape)
        let horizon = Double(settings.purchaseHorizonDays)
        let series = AliveSeries(
            purchases, pairs: pairs.pairs,
            maxHorizon: Double(max(settings.purchaseHorizonDays, settings.valueHorizonDays)))
        let perPair = pairs.map(
            { frequency, age in
                (
                    purchases: series(frequency: frequency, age: age, horizon: horizon),
                    value: aliveValueFactor(
                        frequency: frequency, age: age, settings: settings, series: series)
                )
            }, empty: (purchases: 0.0, value: 0.0))
        let probabilityAlive = AliveProbabilities(purchases, shape: shape)
        let empty = CustomerValueFigures(probabilityAlive: 0, expectedPurchases: 0)
        var out = [CustomerValueFigures](repeating: empty, count: customers.count)
        out.withUnsafeMutableBufferPointer { buffer in
            let box = UnsafeMutableBufferPointerBox(buffer)
            Parallel.forEach(Parallel.chunkCount(rows: customers.count, rowsPerChunk: 8192)) {
                chunk in
                for i in Parallel.chunkRange(chunk, rows: customers.count, rowsPerChunk: 8192) {
                    let customer = customers[i], pair = perPair[pairs.index[i]]
                    let alive = probabilityAlive(customer)
                    let spendPerPurchase = spend?.expectedSpend(customer)
                    box.buffer[i] = CustomerValueFigures(
                        probabilityAlive: alive, expectedPurchases: pair.purchases * alive,
                        expectedSpend: spendPerPurchase,
                        lifetimeValue: spendPerPurchase.map { $0 * alive * pair.value })
                }
            }
        }
        return out
    }

    /// Σ over the value horizon's 30-day steps of the alive customer's expected purchases in the
    /// step, discounted to the snapshot: lifetime value = spend per purchase x P(alive) x this.
    func aliveValueFactor(
        frequency: Int, age: Double, settings: ValueSettings, series: AliveSeries
    ) -> Double {
        let horizon = Double(settings.valueHorizonDays)
        var factor = 0.0, before = 0.0, end = 0.0
        while end < horizon {
            end = min(end + 30, horizon)
            let upTo = series(frequency: frequency, age: age, horizon: end)
            factor += (upTo - before) / pow(1 + settings.annualDiscountRate, end / 365)
            before = upTo
        }
        return factor
    }
}
