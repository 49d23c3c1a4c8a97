import Foundation
import Testing

@testable import SegmentationEngine

@Suite("Choosing k for people")
struct KChoiceTests {
    /// Well separated Gaussian groups in four dimensions (unequal sizes), their centres at
    /// least 25 standard deviations apart (so no two lie much closer than the rest: clear settings).
    static func blobs(groups: Int, seed: UInt64) -> Matrix {
        var rng = SeededGenerator(seed: seed)
        var centres: [[Double]] = []
        while centres.count < groups {
            let candidate = (0..<4).map { _ in rng.nextUnit() * 100 - 50 }
            if centres.allSatisfy({
                zip($0, candidate).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) >= 625
            }) {
                centres.append(candidate)
            }
        }
        var rows: [[Double]] = []
        for (g, centre) in centres.enumerated() {
            for _ in 0..<(60 + 25 * g) { rows.append(centre.map { $0 + rng.nextGaussian() }) }
        }
        return Matrix(rowArrays: rows)
    }

    @Test("The default rule recovers the true number of clear groups, 3 to 8", arguments: 3...8)
    func recoversTrueK(groups: Int) throws {
        for seed: UInt64 in [1, 2] {
            let x = Self.blobs(groups: groups, seed: seed * 100 + UInt64(groups))
            let outcome = try KSweep(ks: Array(2...10)).run(
                x, algorithm: KMeans(nInit: 4, seed: seed))
            #expect(outcome.selection.method == .actionable)
            #expect(
                outcome.selection.chosenK == groups,
                "seed \(seed): \(outcome.selection.reason ?? "")")
            #expect(
                outcome.selection.reason?.hasPrefix("actionable: the highest silhouette") == true)
            #expect(outcome.selection.runnerUps?.count == 2)
        }
    }

    @Test(
        "BIC and AIC as k rules for the mixture: the lowest criterion wins (not the best silhouette), runners-up by the criterion; other algorithms are refused"
    )
    func informationCriteria() throws {
        let x = Self.blobs(groups: 5, seed: 505)
        for method in [KSelectionMethod.bic, .aic] {
            let outcome = try KSweep(ks: Array(2...8), method: method).run(
                x, algorithm: GaussianMixtureClustering(covariance: .diagonal, seed: 1))
            let value = { (c: KCandidate) in method == .bic ? c.bic! : c.aic! }
            let usable = outcome.selection.candidates.filter { $0.smallestShare != 0 }
            let lowest = usable.min { value($0) < value($1) }!
            #expect(
                outcome.selection.chosenK == lowest.k && lowest.k == 5,
                "\(method): \(outcome.selection.reason ?? "")")
            #expect(
                outcome.selection.reason?.hasPrefix(
                    "\(method.rawValue): the lowest \(method.rawValue.uppercased()) ") == true)
            let runnerUps = usable.filter { $0.k != lowest.k }.sorted { value($0) < value($1) }
                .prefix(2).map(\.k)
            #expect(outcome.selection.runnerUps == Array(runnerUps))
        }
        // The criterion, not the silhouette, decides.
        var a = candidate(3, 0.9), b = candidate(4, 0.5)
        a.bic = 200; b.bic = 100
        #expect(KChooser(method: .bic).choose([a, b]).chosenK == 4)
        #expect(KChooser(method: .silhouette).choose([a, b]).chosenK == 3)
        // Without a likelihood (not a mixture) the rule is refused before training.
        var configuration = TrainingConfiguration()
        configuration.selection = .bic
        #expect(throws: InputError.self) { try configuration.validate() }
        configuration.algorithm = .gmm
        try configuration.validate()
        configuration.compareAlgorithms = [.gmm, .kmeans]
        #expect(throws: InputError.self) { try configuration.validate() }
    }

    func candidate(_ k: Int, _ silhouette: Double, smallest: Double = 0.1) -> KCandidate {
        KCandidate(
            k: k, inertia: 1000 / Double(k), silhouette: silhouette, daviesBouldin: 1,
            calinskiHarabasz: 1, iterations: 1,
            smallestShare: smallest)
    }

    @Test(
        "A k that left a segment with no customer is passed over by every rule but fixed, with a warning"
    )
    func emptySegmentRuledOut() {
        let candidates = [candidate(3, 0.30), candidate(4, 0.50, smallest: 0), candidate(5, 0.35)]
        for method in [KSelectionMethod.actionable, .silhouette, .elbow] {
            let selection = KChooser(method: method).choose(candidates)
            #expect(selection.chosenK != 4, "\(method)")
            #expect(
                (selection.warnings ?? []).contains {
                    $0.hasPrefix("k=4 left a segment with no customer")
                }, "\(method)")
            #expect(selection.candidates.count == 3)
        }
        #expect(KChooser(method: .fixed).choose([candidate(4, 0.5, smallest: 0)]).chosenK == 4)
    }

    @Test("k = 2 never wins the default rule, and the choice says why")
    func twoIsASplit() {
        let selection = KChooser(method: .actionable).choose([
            candidate(2, 0.45), candidate(3, 0.31), candidate(4, 0.33),
            candidate(5, 0.30), candidate(6, 0.28),
        ])
        #expect(selection.chosenK == 4)
        #expect(selection.runnerUps == [3, 5])
        #expect(
            selection.reason
                == "actionable: the highest silhouette 0.330 among k=3...6 whose every segment holds at least 2% of customers; runners-up k=3 (0.310), k=5 (0.300)"
        )
        #expect(
            selection.warnings?.contains { $0.hasPrefix("k=2 has a higher silhouette (0.450)") }
                == true)
        #expect(
            KChooser(method: .silhouette).choose([candidate(2, 0.45), candidate(3, 0.31)]).chosenK
                == 2)
    }

    @Test("Tiny segments rule a k out; weak structure and the edge of the range are warned about")
    func warnings() {
        let tiny = KChooser(method: .actionable).choose([
            candidate(3, 0.30), candidate(4, 0.40, smallest: 0.005), candidate(5, 0.20),
        ])
        #expect(tiny.chosenK == 3)
        let weak = KChooser(method: .actionable).choose([
            candidate(3, 0.20), candidate(4, 0.22), candidate(5, 0.21),
        ])
        #expect(weak.chosenK == 4)
        #expect(
            weak.warnings?.contains {
                $0.hasPrefix("weak structure: silhouette 0.220 is below 0.25")
            } == true)
        let edge = KChooser(method: .actionable).choose([
            candidate(3, 0.30), candidate(4, 0.32), candidate(5, 0.5),
        ])
        #expect(edge.chosenK == 5)
        #expect(edge.warnings?.contains { $0.hasPrefix("k=5 is the largest k tried") } == true)
        // Ten clear groups, k tried up to 10: the rule stops at 8 and says what it passed over.
        let many = KChooser(method: .actionable).choose(
            (3...10).map { candidate($0, 0.5 + Double($0) / 100) })
        #expect(many.chosenK == 8)
        #expect(
            many.warnings?.contains {
                $0.hasPrefix(
                    "k=10 has a higher silhouette (0.600) but more than 8 segments are hard to act on"
                )
            } == true)
        #expect(many.warnings?.contains { $0.contains("widen the k range") } == false)
        let ruledOut = KChooser(method: .actionable).choose([
            candidate(3, 0.3), candidate(4, 0.4, smallest: 0.01), candidate(5, 0.2),
        ])
        #expect(
            ruledOut.warnings?.contains {
                $0.hasPrefix(
                    "k=4 has a higher silhouette (0.400) but was ruled out: its smallest segment holds 1.0%"
                )
            } == true)
        let split = KChooser(method: .silhouette).choose([
            candidate(2, 0.45), candidate(3, 0.31), candidate(4, 0.3),
        ])
        #expect(
            split.warnings == [
                "2 segments split the customers in two: a split rather than a segmentation"
            ])
        let allTiny = KChooser(method: .actionable).choose([
            candidate(3, 0.30, smallest: 0.01), candidate(4, 0.35, smallest: 0.01),
        ])
        #expect(allTiny.chosenK == 4)
        #expect(allTiny.reason?.contains("every k in 3...4 has a segment under 2%") == true)
        #expect(
            allTiny.warnings?.contains { $0.hasPrefix("a tiny segment: the smallest holds 1.00%") }
                == true)
        let elbowless = KChooser(method: .elbow).choose([candidate(3, 0.3), candidate(4, 0.2)])
        #expect(
            elbowless.warnings?.contains(
                "the inertia curve has no elbow; k was chosen by silhouette") == true)
    }
}
