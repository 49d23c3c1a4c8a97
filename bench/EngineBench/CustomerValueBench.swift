import Foundation
import SegmentationEngine

/// The customer-value fit on Online Retail's purchase summaries (the product's cleaning, with
/// cancellations netted): summaries built, BG/NBD and Gamma-Gamma fitted, and every customer's
/// figures, timed; the summaries written for `bench/peer_lifetimes.py`, which fits lifetimes on
/// the same numbers.
func customerValueRetail(_ folder: String, summaryOut: String?, repeats: Int) throws {
    var loader = TransactionLoader()
    try loader.add(path: folder)
    let (table, _) = try loader.finish()
    let snapshot = RFMFeatureBuilder.build(table).snapshotDay
    try customerValue(
        PurchaseSummary.summaries(of: table, snapshotDay: snapshot), name: "retail",
        summaryOut: summaryOut, repeats: repeats)
}

/// Customers simulated from the models themselves (BG/NBD purchases and dropout, Gamma-Gamma
/// spend; ages of 30 to 365 days; daily periods), so sizes of 100,000 and 1,000,000 customers
/// cost seconds to make, and the fit has known parameters to find.
func customerValueSimulated(customers: Int, summaryOut: String?, repeats: Int) throws {
    try customerValue(
        simulatedSummaries(customers, seed: 42), name: "simulated_\(customers)",
        summaryOut: summaryOut, repeats: repeats)
}

/// The simulation's parameters: r 0.8, alpha 40 (days), a 0.25, b 1.5; p 2, q 4, v 900.
func simulatedSummaries(_ count: Int, seed: UInt64) -> [PurchaseSummary] {
    var random = SeededGenerator(seed: seed)
    func gamma(_ shape: Double) -> Double {
        // Marsaglia and Tsang; shapes under 1 boosted by U^(1/shape).
        if shape < 1 { return gamma(shape + 1) * pow(random.nextUnit(), 1 / shape) }
        let d = shape - 1.0 / 3, c = 1 / (9 * d).squareRoot()
        while true {
            let x = random.nextGaussian(), v = pow(1 + c * x, 3)
            guard v > 0 else { continue }
            let u = random.nextUnit()
            if log(max(u, 1e-300)) < 0.5 * x * x + d - d * v + d * log(v) { return d * v }
        }
    }
    return (0..<count).map { _ in
        let rate = gamma(0.8) / 40
        let x1 = gamma(0.25), x2 = gamma(1.5)
        let dropout = x1 / (x1 + x2)
        let age = Double(30 + Int(random.nextUnit() * 336))
        let spendRate = gamma(4) / 900
        var days: Set<Int> = [0]
        var time = 0.0, spends: [Double] = [gamma(2) / spendRate]
        // Alive until a repeat purchase is followed by dropout (none after the first purchase).
        while true {
            time += -log(max(random.nextUnit(), 1e-300)) / max(rate, 1e-12)
            guard time < age else { break }
            if days.insert(Int(time)).inserted { spends.append(gamma(2) / spendRate) }
            if random.nextUnit() < dropout { break }
        }
        let repeats = days.count - 1
        return PurchaseSummary(
            frequency: repeats, recency: Double(days.max()!), age: age,
            monetary: repeats > 0 ? spends.dropFirst().reduce(0, +) / Double(repeats) : 0)
    }
}

/// The same on the generated sample's customers (`segment generate-sample`'s generator), for
/// the smoke run and for sizes Online Retail does not reach.
func customerValueGenerated(customers: Int, repeats: Int) throws {
    let output = SampleDataGenerator(customers: customers, seed: 42).generate()
    var loader = TransactionLoader()
    try loader.add(bytes: Array(output.csv.utf8), source: "generated")
    let (table, _) = try loader.finish()
    let snapshot = RFMFeatureBuilder.build(table).snapshotDay
    try customerValue(
        PurchaseSummary.summaries(of: table, snapshotDay: snapshot), name: "generated_\(customers)",
        summaryOut: nil, repeats: repeats)
}

func customerValue(
    _ customers: [PurchaseSummary], name: String, summaryOut: String?, repeats: Int
) throws {
    if let summaryOut {
        let lines = customers.map { "\($0.frequency),\($0.recency),\($0.age),\($0.monetary)" }
        try (["frequency,recency,T,monetary_value"] + lines).joined(separator: "\n")
            .write(toFile: summaryOut, atomically: true, encoding: .utf8)
    }
    var model: CustomerValueModel?
    let fitSeconds = try measure(repeats) { model = try CustomerValueModel.fit(customers) }
    var fit = Timing(name: "btyd_fit_\(name)", seconds: fitSeconds)
    let bgnbd = model!.purchases
    fit.extra = [
        "customers": String(customers.count), "r": "\(bgnbd.r)", "alpha": "\(bgnbd.alpha)",
        "a": "\(bgnbd.a)", "b": "\(bgnbd.b)",
        "mean_log_likelihood": "\(model!.purchasesFit.meanLogLikelihood)",
    ]
    if let spend = model!.spend {
        fit.extra.merge(["p": "\(spend.p)", "q": "\(spend.q)", "v": "\(spend.v)"]) { $1 }
    }
    report(fit)
    // The peer's per-customer step (bench/peer_lifetimes.py): P(alive) and the expected purchases
    // in 90 days, nothing else, so both sides time the same work.
    var total = 0.0
    let figureSeconds = measure(repeats) {
        let (_, purchases) = bgnbd.probabilityAliveAndExpectedPurchases(customers, horizon: 90)
        total = purchases.reduce(0, +)
    }
    var figures = Timing(name: "btyd_figures_\(name)", seconds: figureSeconds)
    figures.extra["expected_purchases_90d_total"] = String(format: "%.4f", total)
    report(figures)
    if let summaryOut {
        // Every customer's P(alive) and expected purchases, beside the peer's (--per-customer).
        let lines = customers.map { customer -> String in
            let figures = model!.figures(customer)
            return "\(figures.probabilityAlive),\(figures.expectedPurchases)"
        }
        try (["p_alive,expected_purchases_90d"] + lines).joined(separator: "\n")
            .write(toFile: summaryOut + ".figures.csv", atomically: true, encoding: .utf8)
    }
}

/// Training on Online Retail with the default configuration, whole, and the customer-value
/// steps it now includes (purchase histories, who bought what, both fits with the holdout check,
/// every customer's figures, the segment sums and product lists) timed alone on the same data:
/// their share of the whole is what customer value adds to a training job.
func trainRetail(_ folder: String, repeats: Int) throws {
    var model: SegmentationModel?
    let trainer = SegmentationTrainer(configuration: TrainingConfiguration())
    let total = try measure(repeats) { model = try trainer.train([.path(folder)]) }
    var timing = Timing(name: "train_retail_default", seconds: total)
    timing.extra["k"] = String(model!.k)
    report(timing)
    var loader = TransactionLoader()
    try loader.add(path: folder)
    let (table, _) = try loader.finish()
    let snapshot = model!.snapshotDay!
    let (features, _) = RFMFeatureBuilder.build(table, snapshotDay: snapshot)
    let labels = try model!.score(
        customerIDs: features.customerIDs, columns: model!.pipeline.features,
        values: features.selecting(features: model!.pipeline.features)
    ).map { Int32($0.segmentID) }
    let value = try measure(repeats) {
        let histories = PurchaseHistories(table)
        let purchases = ProductPurchases(table)!
        let (fitted, summaries) = ModelCustomerValue.fit(histories, snapshotDay: snapshot)
        let figures = fitted.figures(summaries)!
        _ = SegmentValue.bySegment(figures, labels: labels.map(Int.init), segments: model!.k)
        _ = SegmentProducts.perSegment(purchases, labels: labels, segments: model!.k)
    }
    var part = Timing(name: "train_retail_customer_value_steps", seconds: value)
    let (whole, steps) = (total.sorted()[total.count / 2], value.sorted()[value.count / 2])
    part.extra["share_of_training"] = String(format: "%.3f", steps / whole)
    part.extra["added_to_training_without"] = String(format: "%.3f", steps / (whole - steps))
    report(part)
}
