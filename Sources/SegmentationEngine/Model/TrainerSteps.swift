import Foundation

/// The trainer's smaller steps: stability refits, the parameters a model records, DBSCAN's
/// single fit, segments ordered by size, the RFM scorer and the report sample.
extension SegmentationTrainer {
    /// The chosen configuration refitted with other seeds and on bootstrap samples (nil when
    /// turned off). DBSCAN finds its own k, so only its bootstrap refits say anything.
    func measureStability(
        _ scaled: Matrix, _ clustering: Clustering, method: ClusteringMethod,
        cancellation: CancellationCheck,
        observe: ([Int32], Int) -> Void
    ) throws -> StabilityReport? {
        let runs = configuration.stabilityRuns ?? StabilityCheck.defaultRuns.seeds
        guard runs > 0, clustering.k >= 2, scaled.rows > clustering.k * 2 else { return nil }
        var one = configuration
        one.algorithm = method
        one.compareAlgorithms = nil
        // At most 3 k-means restarts a refit: ten refits stay near the cost of the sweep's one k,
        // and fewer restarts can only make a refit differ more (the figure errs on the cautious side).
        one.nInit = min(one.nInit, 3)
        let k = clustering.k
        return try StabilityCheck.measure(
            scaled, labels: clustering.labels, k: k, seed: configuration.seed,
            seedRuns: method.ignoresSeed(rows: scaled.rows) ? 0 : runs, bootstrapRuns: runs,
            cancellation: cancellation,
            observe: observe
        ) { x, seed in
            one.seed = seed
            return try one.configuredClustering().algorithm.fit(
                x, k: method.takesK ? k : 0, cancellation: cancellation)
        }
    }

    /// What the algorithm ran with: Ward's sample, DBSCAN's eps and min_samples as used.
    func parameters(
        of configured: ConfiguredClustering, _ clustering: Clustering, rows: Int, scaled: Matrix
    ) -> [String: String] {
        switch configured {
        case .ward(let ward): return ward.parameters(rows: rows)
        case .gmm(let mixture): return mixture.parameters(for: scaled)
        case .dbscan(let dbscan):
            guard let model = clustering.density else { return dbscan.parameters }
            let outliers =
                model.outlierSegment.map { segment in
                    clustering.labels.count { $0 == Int32(segment) }
                } ?? 0
            return dbscan.parameters(of: model, noise: outliers)
        case .kmeans(let algorithm): return algorithm.parameters
        case .minibatchKMeans(let algorithm): return algorithm.parameters
        }
    }

    /// DBSCAN's one fit, measured as a sweep of its own k, and the choice said in words.
    func once(
        _ density: DBSCANClustering, _ scaled: Matrix, sweep: KSweep,
        cancellation: CancellationCheck
    ) throws -> KSweep.Outcome {
        let clustering = try density.fit(scaled, k: 0, cancellation: cancellation)
        let model = clustering.density!
        let single = KSweep(
            ks: [clustering.k], method: .fixed, exactSilhouetteLimit: sweep.exactSilhouetteLimit,
            seed: sweep.seed)
        var outcome = try single.measure(
            scaled, [clustering.k: clustering], ks: [clustering.k], cancellation: cancellation)
        let groups = model.outlierSegment == nil ? clustering.k : clustering.k - 1
        let outliers =
            model.outlierSegment.map { segment in clustering.labels.count { $0 == Int32(segment) } }
            ?? 0
        outcome.selection.reason =
            String(
                format: "dbscan: %d dense group(s) with eps %.4g (%@) and min_samples %d", groups,
                model.eps,
                density.eps == nil ? "the k-distance knee" : "given", model.minSamples)
            + (outliers > 0
                ? ", and \(outliers) customers in none (the Outliers segment)"
                : "; every customer is in one")
            + ((model.smallGroupsJoined ?? 0) > 0
                ? String(
                    format: "; %d dense group(s) under %g%% of customers joined the Outliers",
                    model.smallGroupsJoined!,
                    DBSCANClustering.minimumGroupShare * 100) : "")
        return outcome
    }

    /// Segments numbered by size, largest first (ties by centroid), so ids read naturally.
    func orderedBySize(_ clustering: Clustering) -> Clustering {
        let k = clustering.k
        var sizes = [Int](repeating: 0, count: k)
        for label in clustering.labels { sizes[Int(label)] += 1 }
        let order = (0..<k).sorted { a, b in
            sizes[a] != sizes[b]
                ? sizes[a] > sizes[b]
                : Array(clustering.centroids.row(a)).lexicographicallyPrecedes(
                    Array(clustering.centroids.row(b)))
        }
        var newID = [Int32](repeating: 0, count: k)
        for (position, old) in order.enumerated() { newID[old] = Int32(position) }
        var result = clustering
        result.centroids = clustering.centroids.selecting(rows: order)
        result.labels = clustering.labels.map { newID[Int($0)] }
        result.mixture = clustering.mixture?.reordered(order)
        result.density = clustering.density?.renumbered(newID)
        return result
    }

    func makeRFMScorer(_ features: CustomerFeatures) -> RFMScorer? {
        guard let recency = features.column(named: "recency"),
            let frequency = features.column(named: "frequency")
        else {
            return nil
        }
        return RFMScorer(recency: recency, frequency: frequency)
    }

    func makeSample(
        _ scaled: Matrix, raw: Matrix, ids: [String], labels: [Int32],
        cancellation: CancellationCheck
    ) throws -> ModelSample? {
        guard configuration.sampleSize > 0 else { return nil }
        let rows = ClusterMetrics.sampleIndices(
            count: scaled.rows, size: min(configuration.sampleSize, scaled.rows),
            seed: configuration.seed)
        let points = scaled.selecting(rows: rows)
        let sampleLabels = rows.map { labels[$0] }
        let distinct = Set(sampleLabels).count
        let silhouettes =
            distinct >= 2 && distinct < rows.count
            ? try SilhouetteSweep.samples(
                points, labelings: [sampleLabels], cancellation: cancellation)[0] : []
        return ModelSample(
            customerIDs: rows.map { ids[$0] }, points: points, labels: sampleLabels,
            silhouettes: silhouettes,
            raw: raw.selecting(rows: rows))
    }
}
