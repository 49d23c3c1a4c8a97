import Foundation

/// Picks k from the measured candidates by the chosen rule and says why, with the warnings a
/// person should read before acting on the segments.
///
/// The default rule, `actionable`: the highest silhouette among k = 3...8 where every segment
/// holds at least 2% of the customers. Why: maximum silhouette over 2...10 picks a 2-way split
/// on most real RFM data (one big low-activity group against the rest), which is a split, not a
/// segmentation; beyond 8 segments few marketing teams can run a distinct programme per segment;
/// and a segment of a handful of customers is no audience. Within that range silhouette is
/// still the judge, so data with clear groups gets its true k (tested for 3 to 8 groups).
public struct KChooser: Sendable {
    public var method: KSelectionMethod
    /// The ks the actionable rule considers (when the sweep tried any of them).
    public var actionableRange = 3...8
    /// Segments below this share of the customers are "tiny".
    public var minimumShare = 0.02
    /// Below this silhouette the data has little cluster structure (Kaufman and Rousseeuw).
    public var weakSilhouette = 0.25

    public init(method: KSelectionMethod) { self.method = method }

    public func choose(_ candidates: [KCandidate]) -> KSelection {
        precondition(!candidates.isEmpty, "no candidates to choose from")
        let byK = candidates.sorted { $0.k < $1.k }
        let elbow = Kneedle.elbow(ks: byK.map(\.k), values: byK.map(\.inertia))
        // A k that left a segment with no customer (a mixture component nobody is most likely in)
        // is no segmentation at that k: every rule but fixed passes it over.
        // So is a k where a mixture segment is one value of a discrete feature (`DiscreteFeatures`).
        let empty = byK.filter { $0.smallestShare == 0 || $0.degenerate != nil }
        let usable =
            method == .fixed || empty.count == byK.count
            ? byK : byK.filter { $0.smallestShare != 0 && $0.degenerate == nil }
        var (chosen, pool, reason) = decide(usable, elbow: usable.count == byK.count ? elbow : nil)
        var warnings = self.warnings(chosen: chosen, pool: pool, all: usable)
        if usable.count < byK.count {
            let noCustomer = empty.filter { $0.smallestShare == 0 }
            if !noCustomer.isEmpty {
                warnings.append(
                    "k=\(noCustomer.map { String($0.k) }.joined(separator: ", ")) left a segment with no customer and "
                        + (noCustomer.count == 1 ? "was" : "were")
                        + " ruled out (its metrics describe fewer segments)")
            }
            for candidate in empty where candidate.smallestShare != 0 {
                warnings.append("k=\(candidate.k) was ruled out: \(candidate.degenerate ?? "")")
            }
        }
        if let degenerate = chosen.degenerate {
            warnings.append(
                "k=\(chosen.k) is kept although \(degenerate)"
                    + (method == .fixed ? " (k was fixed)" : " (no other k was usable)"))
        }
        if pool.isEmpty { pool = [chosen] }
        let runnerUps = pool.filter { $0.k != chosen.k }.sorted(by: ranking).prefix(2)
        if !runnerUps.isEmpty {
            reason +=
                "; runners-up "
                + runnerUps.map { "k=\($0.k) (\(judgedValue($0)))" }.joined(separator: ", ")
        }
        if method == .elbow && elbow == nil {
            warnings.append("the inertia curve has no elbow; k was chosen by silhouette")
        }
        return KSelection(
            method: method, candidates: byK, elbowK: elbow, chosenK: chosen.k,
            silhouetteSampleSize: nil,
            reason: reason, runnerUps: runnerUps.map(\.k), warnings: warnings)
    }

    /// Higher silhouette first; ties to the smaller k.
    static func better(_ a: KCandidate, _ b: KCandidate) -> Bool {
        a.silhouette != b.silhouette ? a.silhouette > b.silhouette : a.k < b.k
    }

    /// The information criterion a likelihood rule minimises (nil for other rules or candidates
    /// without a likelihood).
    private func criterion(_ c: KCandidate) -> Double? {
        switch method {
        case .bic: c.bic
        case .aic: c.aic
        default: nil
        }
    }

    /// Best first under this rule: the lower criterion for BIC and AIC, else the higher silhouette.
    private func ranking(_ a: KCandidate, _ b: KCandidate) -> Bool {
        if let ca = criterion(a), let cb = criterion(b), ca != cb { return ca < cb }
        return Self.better(a, b)
    }

    /// The number the rule judged a candidate by, as the reason prints it.
    private func judgedValue(_ c: KCandidate) -> String {
        if let value = criterion(c) {
            return String(format: "%@ %.1f", method.rawValue.uppercased(), value)
        }
        return String(format: "%.3f", c.silhouette)
    }

    /// The chosen candidate, the pool it was chosen from (runners-up come from it), and the rule in words.
    private func decide(_ all: [KCandidate], elbow: Int?) -> (KCandidate, [KCandidate], String) {
        let best = { (pool: [KCandidate]) in pool.sorted(by: Self.better)[0] }
        let silhouetteText = { (c: KCandidate) in String(format: "silhouette %.3f", c.silhouette) }
        switch method {
        case .fixed:
            return (all[0], [], "fixed: k=\(all[0].k) was asked for")
        case .silhouette:
            let chosen = best(all)
            return (
                chosen, all,
                "silhouette: the highest \(silhouetteText(chosen)) among k=\(rangeText(all))"
            )
        case .bic, .aic:
            let name = method.rawValue.uppercased()
            guard all.allSatisfy({ criterion($0) != nil }) else {
                let chosen = best(all)
                return (
                    chosen, all,
                    "\(method.rawValue): no \(name) without a likelihood, so the highest \(silhouetteText(chosen)) among k=\(rangeText(all))"
                )
            }
            let chosen = all.sorted(by: ranking)[0]
            return (
                chosen, all,
                "\(method.rawValue): the lowest \(judgedValue(chosen)) among k=\(rangeText(all)), \(silhouetteText(chosen))"
            )
        case .elbow:
            if let elbow, let chosen = all.first(where: { $0.k == elbow }) {
                return (
                    chosen, all,
                    "elbow: the inertia curve bends most at k=\(elbow) (Kneedle), \(silhouetteText(chosen))"
                )
            }
            let chosen = best(all)
            return (
                chosen, all,
                "elbow: no elbow in the inertia curve, so the highest \(silhouetteText(chosen)) among k=\(rangeText(all))"
            )
        case .actionable:
            let considered = all.filter { actionableRange.contains($0.k) }
            guard !considered.isEmpty else {
                let chosen = best(all)
                return (
                    chosen, all,
                    "actionable: no k in \(actionableRange.lowerBound)...\(actionableRange.upperBound) was tried, "
                        + "so the highest \(silhouetteText(chosen)) among k=\(rangeText(all))"
                )
            }
            let sizable = considered.filter { ($0.smallestShare ?? 1) >= minimumShare }
            let pool = sizable.isEmpty ? considered : sizable
            let chosen = best(pool)
            let share = String(format: "%g%%", minimumShare * 100)
            let rule =
                sizable.isEmpty
                ? "actionable: every k in \(rangeText(considered)) has a segment under \(share) of customers, so the highest \(silhouetteText(chosen)) among them"
                : "actionable: the highest \(silhouetteText(chosen)) among k=\(rangeText(considered)) whose every segment holds at least \(share) of customers"
            return (chosen, pool, rule)
        }
    }

    private func warnings(chosen: KCandidate, pool: [KCandidate], all: [KCandidate]) -> [String] {
        var warnings: [String] = []
        let tried = all.map(\.k)
        let silhouette = { (c: KCandidate) in String(format: "%.3f", c.silhouette) }
        if method == .actionable {
            // Better silhouettes the rule passed over, and why.
            if let below = all.filter({
                $0.k < actionableRange.lowerBound && $0.silhouette > chosen.silhouette
            }).max(by: { $0.silhouette < $1.silhouette }) {
                warnings.append(
                    "k=\(below.k) has a higher silhouette (\(silhouette(below))) but \(below.k) segments are a split, not a "
                        + "segmentation; silhouette selection would take it")
            }
            if let above = all.filter({
                $0.k > actionableRange.upperBound && $0.silhouette > chosen.silhouette
            }).max(by: { $0.silhouette < $1.silhouette }) {
                warnings.append(
                    "k=\(above.k) has a higher silhouette (\(silhouette(above))) but more than \(actionableRange.upperBound) "
                        + "segments are hard to act on; silhouette selection would take it")
            }
            let poolKs = Set(pool.map(\.k))
            if let tiny = all.filter({
                actionableRange.contains($0.k) && !poolKs.contains($0.k)
                    && $0.silhouette > chosen.silhouette
            })
            .max(by: { $0.silhouette < $1.silhouette }), let share = tiny.smallestShare {
                warnings.append(
                    String(
                        format:
                            "k=%d has a higher silhouette (%@) but was ruled out: its smallest segment holds %.1f%% of customers",
                        tiny.k, silhouette(tiny), share * 100))
            }
            if chosen.k == tried.max(), chosen.k < actionableRange.upperBound {
                warnings.append(
                    "k=\(chosen.k) is the largest k tried: the data may hold more segments (widen the k range to see)"
                )
            } else if chosen.k == tried.min(), chosen.k > actionableRange.lowerBound {
                warnings.append(
                    "k=\(chosen.k) is the smallest k tried: fewer segments may fit better (widen the k range to see)"
                )
            }
        } else if method != .fixed && tried.count > 1 {
            if chosen.k == tried.max() {
                warnings.append(
                    "k=\(chosen.k) is the largest k tried: the data may hold more segments (widen the k range to see)"
                )
            } else if chosen.k == tried.min() && chosen.k > 2 {
                warnings.append(
                    "k=\(chosen.k) is the smallest k tried: fewer segments may fit better (widen the k range to see)"
                )
            }
        }
        if chosen.k == 2 {
            warnings.append(
                "2 segments split the customers in two: a split rather than a segmentation")
        }
        if chosen.silhouette < weakSilhouette {
            warnings.append(
                String(
                    format: "weak structure: silhouette %.3f is below %.2f, so segments overlap; "
                        + "read them as regions of a continuum rather than distinct groups",
                    chosen.silhouette, weakSilhouette))
        }
        if let share = chosen.smallestShare, share < minimumShare {
            warnings.append(
                String(
                    format: "a tiny segment: the smallest holds %.2f%% of customers (under %g%%)",
                    share * 100, minimumShare * 100))
        }
        return warnings
    }

    private func rangeText(_ candidates: [KCandidate]) -> String {
        let ks = candidates.map(\.k)
        guard let low = ks.min(), let high = ks.max() else { return "" }
        return low == high
            ? "\(low)"
            : (ks.count == high - low + 1
                ? "\(low)...\(high)" : ks.map(String.init).joined(separator: ","))
    }
}
