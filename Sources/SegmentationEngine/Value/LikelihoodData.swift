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

    /// `scale` multiplies every time (the fit's rescaling).
    init(_ summaries: [PurchaseSummary], scale: Double = 1) {
        let sorted = summaries.sorted {
            ($0.frequency, $0.recency, $0.age) < ($1.frequency, $1.recency, $1.age)
        }
        (runs, recency, age, weight) = ([], [], [], [])
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
        let sorted = summaries.filter(GammaGamma.fits).sorted { $0.frequency < $1.frequency }
        (runs, spend) = ([], [])
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
