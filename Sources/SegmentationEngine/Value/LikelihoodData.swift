import Foundation

/// Customers' summaries as the likelihoods read them, arranged once before a fit so each of its
/// evaluations does the least work: customers with the same (frequency, recency, age) counted
/// once with a weight, in runs of one frequency, so the terms that depend on the frequency alone
/// (the log-gamma and digamma functions, the costly part) are computed once per run.
struct PurchaseLikelihoodData: Sendable {
    struct Run: Sendable {
        var frequency: Double
        /// Customers in the run (the sum of its weights).
        var weight: Double
        var range: Range<Int>
    }
    var runs: [Run]
    var recency: [Double]
    var age: [Double]
    var weight: [Double]
    var customers: Int
    /// The distinct times among ages and recencies (a few hundred in whole days), and each
    /// entry's: the logarithms an evaluation needs are taken once per distinct time.
    var times: [Double] = []
    var ageSlot: [Int32] = []
    var recencySlot: [Int32] = []

    /// `scale` multiplies every time (the fit's rescaling).
    init(_ summaries: [PurchaseSummary], scale: Double = 1) {
        let sorted = Self.sortedByFrequencyRecencyAge(summaries)
        (runs, recency, age, weight) = ([], [], [], [])
        recency.reserveCapacity(sorted.count)
        age.reserveCapacity(sorted.count)
        weight.reserveCapacity(sorted.count)
        customers = summaries.count
        var previous: PurchaseSummary?
        for customer in sorted {
            if let p = previous, p.frequency == customer.frequency, p.recency == customer.recency,
                p.age == customer.age
            {
                weight[weight.count - 1] += 1
                runs[runs.count - 1].weight += 1
                continue
            }
            if previous?.frequency != customer.frequency {
                runs.append(
                    Run(
                        frequency: Double(customer.frequency), weight: 0,
                        range: recency.count..<recency.count))
            }
            recency.append(customer.recency * scale)
            age.append(customer.age * scale)
            weight.append(1)
            runs[runs.count - 1].weight += 1
            runs[runs.count - 1].range = runs[runs.count - 1].range.lowerBound..<recency.count
            previous = customer
        }
        let days = sorted.map { max($0.age, $0.recency) }.max() ?? 0
        if days < 1e6,
            sorted.allSatisfy({ $0.age == $0.age.rounded() && $0.recency == $0.recency.rounded() })
        {
            // Whole days: a day's slot is the day.
            times = (0...Int(days)).map { Double($0) * scale }
            ageSlot = age.map { Int32(($0 / scale).rounded()) }
            recencySlot = recency.map { Int32(($0 / scale).rounded()) }
            return
        }
        var slots: [Double: Int32] = [:]
        func slot(_ time: Double) -> Int32 {
            if let known = slots[time] { return known }
            slots[time] = Int32(times.count)
            times.append(time)
            return Int32(times.count - 1)
        }
        ageSlot = age.map(slot)
        recencySlot = recency.map(slot)
    }
}

extension PurchaseLikelihoodData {
    /// The summaries by (frequency, recency, age). Whole days below 2^20 (every transactions
    /// model's) go through a radix sort of packed keys, a tenth of a comparison sort's time on a
    /// million customers; anything else through the comparison sort.
    static func sortedByFrequencyRecencyAge(_ summaries: [PurchaseSummary]) -> [PurchaseSummary] {
        let limit = Double(1 << 20)
        let packable = summaries.allSatisfy {
            $0.frequency >= 0 && $0.frequency < 1 << 20 && $0.recency >= 0 && $0.recency < limit
                && $0.age >= 0 && $0.age < limit && $0.recency == $0.recency.rounded()
                && $0.age == $0.age.rounded()
        }
        guard packable else {
            return summaries.sorted {
                ($0.frequency, $0.recency, $0.age) < ($1.frequency, $1.recency, $1.age)
            }
        }
        var keys = summaries.map {
            UInt64($0.frequency) << 40 | UInt64($0.recency) << 20 | UInt64($0.age)
        }
        radixSort(&keys)
        let mask: UInt64 = (1 << 20) - 1
        return keys.map {
            PurchaseSummary(
                frequency: Int($0 >> 40), recency: Double(($0 >> 20) & mask),
                age: Double($0 & mask))
        }
    }

    /// Least-significant-digit radix sort of 60-bit keys, 15 bits a pass.
    static func radixSort(_ keys: inout [UInt64]) {
        var buffer = [UInt64](repeating: 0, count: keys.count)
        for shift in stride(from: UInt64(0), to: 60, by: 15) {
            var counts = [Int](repeating: 0, count: (1 << 15) + 1)
            for key in keys { counts[Int((key >> shift) & 0x7FFF) + 1] += 1 }
            for d in 0..<(1 << 15) { counts[d + 1] += counts[d] }
            for key in keys {
                let d = Int((key >> shift) & 0x7FFF)
                buffer[counts[d]] = key
                counts[d] += 1
            }
            swap(&keys, &buffer)
        }
    }
}

/// Repeat buyers' mean spends for the Gamma-Gamma likelihood, in runs of one frequency, with
/// each run's sum of log spends (constant through the fit) kept.
struct SpendLikelihoodData: Sendable {
    struct Run: Sendable {
        var frequency: Double
        var count: Double
        var sumLogSpend: Double
        var range: Range<Int>
    }
    var runs: [Run]
    var spend: [Double]

    /// `unit` divides every spend (the fit's rescaling).
    init(_ summaries: [PurchaseSummary], unit: Double = 1) {
        // By frequency with a counting sort (frequencies are small whole numbers).
        let used = summaries.filter(GammaGamma.fits)
        var starts = [Int](repeating: 0, count: (used.map(\.frequency).max() ?? 0) + 2)
        for customer in used { starts[customer.frequency + 1] += 1 }
        for f in 1..<starts.count { starts[f] += starts[f - 1] }
        var sorted = [PurchaseSummary](
            repeating: PurchaseSummary(frequency: 0, recency: 0, age: 0), count: used.count)
        for customer in used {
            sorted[starts[customer.frequency]] = customer
            starts[customer.frequency] += 1
        }
        (runs, spend) = ([], [])
        spend.reserveCapacity(sorted.count)
        for customer in sorted {
            let m = customer.monetary / unit
            if runs.last?.frequency != Double(customer.frequency) {
                runs.append(
                    Run(
                        frequency: Double(customer.frequency), count: 0, sumLogSpend: 0,
                        range: spend.count..<spend.count))
            }
            spend.append(m)
            runs[runs.count - 1].count += 1
            runs[runs.count - 1].sumLogSpend += log(m)
            runs[runs.count - 1].range = runs[runs.count - 1].range.lowerBound..<spend.count
        }
    }

    var customers: Int { spend.count }
}
