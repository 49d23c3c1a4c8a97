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
        total = customers.reduce(0) { sum, customer in
            _ = bgnbd.probabilityAlive(customer)
            return sum + bgnbd.expectedPurchases(customer, horizon: 90)
        }
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
