// segment-bench: times the engine's pipeline stages (release build) and writes the inputs the
// scikit-learn peer (bench/peer_sklearn.py) reads, so both run on identical data.
//
//   segment-bench retail <by-day folder>          read + clean + RFM, then the k sweep
//   segment-bench retail-sweep <by-day folder>    the k sweep alone, repeated (profiling)
//   segment-bench sweep-generated <customers>      the k sweep on generated customers
//   segment-bench kmeans <rows> <out-dir>          rows x 8 k-means (k=6, n_init=3) + peak memory
//   segment-bench minibatch-memory <rows>          mini-batch k-means' own peak memory (own process)
//   segment-bench kmeans-rfm <rows> <out-dir>      rows x 4 RFM-like customers, k=8 from a shared start
//                                                  to convergence (many Lloyd iterations)
//   segment-bench algorithms <rows> <out-dir>      rows x 4 blobs with noise: mini-batch k-means, Gaussian
//                                                  mixture, DBSCAN on all rows; Ward on the first 10,000
//   segment-bench btyd-retail <by-day folder> [summary.csv]  BG/NBD + Gamma-Gamma on Online Retail
//   segment-bench btyd-simulated [customers] [summary.csv]   the same on customers simulated from the models
//   segment-bench train-retail <by-day folder>   default training, and its customer-value steps alone
//   segment-bench --smoke                          all of the above, tiny, in seconds (CI)
import Foundation
import SegmentationEngine

struct Timing: Codable {
    var name: String
    var seconds: [Double]
    var median: Double { medianOf(seconds) }
    var extra: [String: String] = [:]
}

func medianOf(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

func measure(_ repeats: Int, _ body: () throws -> Void) rethrows -> [Double] {
    try (0..<repeats).map { _ in
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}

func peakResidentBytes() -> Int {
    // VmHWM: the process's peak resident set size.
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
        let kb = Int(line.split(separator: " ").dropFirst().first ?? "")
    else { return 0 }
    return kb * 1024
}

func currentResidentBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
        let kb = Int(line.split(separator: " ").dropFirst().first ?? "")
    else { return 0 }
    return kb * 1024
}

/// Resets the kernel's peak-RSS mark (VmHWM) to the current RSS, so a later peak measures one phase.
func resetPeakResident() {
    try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
}

func report(_ timing: Timing) {
    let extra = timing.extra.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
        separator: " ")
    print(
        String(
            format: "%-28@ median %8.3f s  (runs: %@) %@", timing.name as NSString, timing.median,
            timing.seconds.map { String(format: "%.3f", $0) }.joined(separator: ", "), extra))
    if let path = ProcessInfo.processInfo.environment["SEGMENT_BENCH_JSON"] {
        let line = String(decoding: try! JSONEncoder().encode(timing), as: UTF8.self) + "\n"
        if let handle = FileHandle(forWritingAtPath: path) {
            handle.seekToEndOfFile(); handle.write(Data(line.utf8)); handle.closeFile()
        } else {
            try? line.write(toFile: path, atomically: false, encoding: .utf8)
        }
    }
}

/// The standard pipeline's scaled RFM matrix: log1p then standard scaling.
func scaledRFM(_ features: CustomerFeatures) throws -> Matrix {
    let names = TransactionFeature.defaultSelection.map(\.rawValue)
    let raw = try features.selecting(features: names)
    return try FittedPipeline.fit(raw, features: names, spec: PipelineSpec()).transform(raw)
}

/// The k sweep 2...10 with n_init restarts and all four metrics per k.
func sweep(_ x: Matrix, name: String, nInit: Int, repeats: Int, ks: [Int] = Array(2...10)) throws {
    var outcome: KSweep.Outcome?
    let seconds = try measure(repeats) {
        outcome = try KSweep(ks: ks, exactSilhouetteLimit: Int.max).run(
            x, algorithm: KMeans(nInit: nInit, seed: 0))
    }
    let selection = outcome!.selection
    var timing = Timing(name: name, seconds: seconds)
    // Where the time goes: the k-means fits alone, then the silhouettes of all k at once.
    let fits = try measure(repeats) { _ = try KMeans(nInit: nInit, seed: 0).fit(x, ks: ks) }
    let labelings = ks.map { outcome!.clusterings[$0]!.labels }
    let silhouettes = try measure(repeats) {
        _ = try SilhouetteSweep.samples(x, labelings: labelings)
    }
    timing.extra["kmeans_fits_s"] = String(format: "%.3f", medianOf(fits))
    timing.extra["silhouettes_s"] = String(format: "%.3f", medianOf(silhouettes))
    timing.extra["customers"] = String(x.rows)
    timing.extra["chosen_k"] = String(selection.chosenK)
    timing.extra["iterations"] = selection.candidates.map { String($0.iterations) }.joined(
        separator: "/")
    timing.extra["silhouettes"] = selection.candidates.map { String(format: "%.4f", $0.silhouette) }
        .joined(separator: "/")
    // Training's stability check at the chosen k (5 seed refits, 5 bootstrap refits), which
    // must stay inside the sweep's own time.
    let chosen = outcome!.clusterings[selection.chosenK]!
    var stability: StabilityReport?
    let stabilitySeconds = try measure(repeats) {
        stability = try StabilityCheck.measure(x, labels: chosen.labels, k: chosen.k, seed: 0) {
            rows, seed in
            try KMeans(nInit: min(nInit, 3), seed: seed).fit(
                rows, k: chosen.k, cancellation: .never)
        }
    }
    timing.extra["stability_s"] = String(format: "%.3f", medianOf(stabilitySeconds))
    timing.extra["stability_mean_ari"] = String(format: "%.3f", stability?.meanARI ?? .nan)
    report(timing)
}

func retail(_ folder: String, repeats: Int, nInit: Int, sweepRepeats: Int? = nil) throws {
    var features: CustomerFeatures?
    var rows = 0
    let seconds = try measure(repeats) {
        // The pandas peer's rules (bench/): cancellations dropped, not netted.
        var loader = TransactionLoader(cleaning: .legacy)
        try loader.add(path: folder)
        let (table, report) = try loader.finish()
        rows = report.rowsIn
        features = RFMFeatureBuilder.build(table).features
    }
    var timing = Timing(name: "retail_read_clean_rfm", seconds: seconds)
    timing.extra["rows"] = String(rows)
    timing.extra["customers"] = String(features!.count)
    report(timing)
    try sweep(
        try scaledRFM(features!), name: "retail_k_sweep", nInit: nInit,
        repeats: sweepRepeats ?? repeats)
}

/// The same folder through yaslab/CSV.swift, the maintained library we would otherwise use:
/// rows and the sum of Quantity x UnitPrice, to show both readers see the same data.
func csvLibraryComparison(_ folder: String, repeats: Int) throws {
    var ours = (rows: 0, sum: 0.0), library = (rows: 0, sum: 0.0)
    let files = try CSVReader.files(at: folder)
    let oursSeconds = try measure(repeats) {
        ours = (0, 0)
        for file in files {
            var header = true
            try CSVReader.forEachRecord(inFile: file) { record in
                if header { header = false; return }
                ours.rows += 1
                ours.sum += (record.double(3) ?? 0) * (record.double(5) ?? 0)
            }
        }
    }
    let librarySeconds = try measure(repeats) {
        library = (0, 0)
        for file in files {
            try readWithCSVSwift(file) { row in
                library.rows += 1
                library.sum += (Double(row[3]) ?? 0) * (Double(row[5]) ?? 0)
            }
        }
    }
    var timing = Timing(name: "csv_read_ours", seconds: oursSeconds)
    timing.extra["rows"] = String(ours.rows)
    timing.extra["quantity_x_price"] = String(format: "%.6f", ours.sum)
    report(timing)
    timing = Timing(name: "csv_read_yaslab_CSV.swift", seconds: librarySeconds)
    timing.extra["rows"] = String(library.rows)
    timing.extra["quantity_x_price"] = String(format: "%.6f", library.sum)
    report(timing)
}

func generatedSweep(customers: Int, repeats: Int, nInit: Int, csvOut: String?) throws {
    let output = SampleDataGenerator(customers: customers, seed: 42).generate()
    if let csvOut { try output.csv.write(toFile: csvOut, atomically: true, encoding: .utf8) }
    var loader = TransactionLoader()
    try loader.add(bytes: Array(output.csv.utf8), source: "generated")
    let (table, _) = try loader.finish()
    let features = RFMFeatureBuilder.build(table).features
    try sweep(try scaledRFM(features), name: "generated_k_sweep", nInit: nInit, repeats: repeats)
}

/// rows x 8 Gaussian blobs around 6 centres, seeded.
func blobs8(rows: Int) -> Matrix {
    let columns = 8
    var random = SeededGenerator(seed: 7)
    let centres = (0..<6).map { _ in (0..<columns).map { _ in random.nextGaussian() * 4 } }
    var values = [Double](repeating: 0, count: rows * columns)
    for i in 0..<rows {
        let centre = centres[i % 6]
        for j in 0..<columns { values[i * columns + j] = centre[j] + random.nextGaussian() }
    }
    return Matrix(rows: rows, columns: columns, values: values)
}

/// Mini-batch k-means' own peak memory, in a process that has done nothing else: the peak
/// resident size during the fit over the resident size with the data loaded. What the fit may
/// hold besides the data: O(k x d), one batch, the seeding sample, and the labels it returns
/// (4 bytes per customer).
func miniBatchMemory(rows: Int) throws {
    let x = blobs8(rows: rows)
    let loaded = currentResidentBytes()
    resetPeakResident()
    var mini: Clustering?
    var timing = Timing(
        name: "minibatch_kmeans_memory_\(rows)x8_k6",
        seconds: try measure(1) {
            mini = try MiniBatchKMeans(nInit: 3, seed: 0).fit(x, k: 6)
        })
    let over = peakResidentBytes() - loaded
    timing.extra["data_mb"] = String(format: "%.1f", Double(x.values.count * 8) / 1_048_576)
    timing.extra["peak_over_loaded_data_mb"] = String(format: "%.1f", Double(over) / 1_048_576)
    timing.extra["labels_mb"] = String(format: "%.1f", Double(mini!.labels.count * 4) / 1_048_576)
    report(timing)
}

/// rows x 8 Gaussian blobs around 6 centres (`blobs8`); written as float64 for the peer.
func kmeansLarge(rows: Int, outDirectory: String?, repeats: Int) throws {
    let baseline = currentResidentBytes()
    let columns = 8
    let x = blobs8(rows: rows)
    if let outDirectory {
        let path = (outDirectory as NSString).appendingPathComponent("kmeans_\(rows)x8.f64")
        try x.values.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: path)) }
    }
    let dataBytes = rows * columns * 8
    // Writing the peer's copy of the data allocated a transient copy: measure the fit alone.
    resetPeakResident()
    var result: Clustering?
    let seconds = try measure(repeats) { result = try KMeans(nInit: 3, seed: 0).fit(x, k: 6) }
    var timing = Timing(name: "kmeans_\(rows)x8_k6", seconds: seconds)
    // Baseline: before the data existed; so the peak counts the data plus everything the fit allocates.
    let peak = peakResidentBytes() - baseline
    timing.extra["inertia"] = String(format: "%.6g", result!.inertia)
    timing.extra["iterations"] = String(result!.iterations)
    timing.extra["peak_over_baseline_mb"] = String(format: "%.1f", Double(peak) / 1_048_576)
    timing.extra["data_mb"] = String(format: "%.1f", Double(dataBytes) / 1_048_576)
    timing.extra["peak_over_data"] = String(format: "%.2f", Double(peak) / Double(dataBytes))
    report(timing)

    // Mini-batch k-means on the same data (scikit-learn's MiniBatchKMeans defaults on both sides).
    // No peak memory here: the process still holds what the k-means fit above freed.
    var mini: Clustering?
    var miniTiming = Timing(
        name: "minibatch_kmeans_\(rows)x8_k6",
        seconds: try measure(repeats) {
            mini = try MiniBatchKMeans(nInit: 3, seed: 0).fit(x, k: 6)
        })
    miniTiming.extra["inertia"] = String(format: "%.6g", mini!.inertia)
    report(miniTiming)
}

/// rows x 4: six Gaussian blobs and 2% uniform noise, seeded; written as float64 for the peer.
func algorithmData(rows: Int) -> Matrix {
    var random = SeededGenerator(seed: 11)
    let centres = (0..<6).map { _ in (0..<4).map { _ in random.nextGaussian() * 3 } }
    var values = [Double](repeating: 0, count: rows * 4)
    for i in 0..<rows {
        for j in 0..<4 {
            values[i * 4 + j] =
                i % 50 == 49
                ? random.nextUnit() * 16 - 8 : centres[i % 6][j] + random.nextGaussian() * 0.5
        }
    }
    return Matrix(rows: rows, columns: 4, values: values)
}

/// The other algorithms on the same data as bench/peer_sklearn.py's `algorithms`.
func algorithms(rows: Int, outDirectory: String?, repeats: Int) throws {
    let x = algorithmData(rows: rows)
    if let outDirectory {
        let path = (outDirectory as NSString).appendingPathComponent("algorithms_\(rows)x4.f64")
        try x.values.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: path)) }
    }
    var mini: Clustering?
    var timing = Timing(
        name: "minibatch_kmeans_\(rows)x4_k6",
        seconds: try measure(repeats) {
            mini = try MiniBatchKMeans(nInit: 3, seed: 0).fit(x, k: 6)
        })
    timing.extra["inertia"] = String(format: "%.6g", mini!.inertia)
    report(timing)

    var mixture: GaussianMixture.Fitted?
    timing = Timing(
        name: "gaussian_mixture_full_\(rows)x4_k6",
        seconds: try measure(repeats) {
            mixture = try GaussianMixture(components: 6, covariance: .full, seed: 0).fit(x)
        })
    timing.extra["mean_log_likelihood"] = String(format: "%.6f", mixture!.meanLogLikelihood(x))
    timing.extra["iterations"] = String(mixture!.iterations)
    report(timing)

    var density: DBSCAN.Result?
    timing = Timing(
        name: "dbscan_\(rows)x4_eps0.3_min8",
        seconds: try measure(repeats) {
            density = try DBSCAN(eps: 0.3, minSamples: 8).fit(x)
        })
    timing.extra["clusters"] = String(density!.clusterCount)
    timing.extra["noise"] = String(density!.noiseCount)
    report(timing)

    // The same as a model's algorithm: DBSCAN, then every non-core customer placed as scoring
    // places it (its nearest core customer within eps, looked up in the cores' cell grid).
    var model: Clustering?
    timing = Timing(
        name: "dbscan_model_\(rows)x4_eps0.3_min8",
        seconds: try measure(repeats) {
            model = try DBSCANClustering(eps: 0.3, minSamples: 8).fit(x, k: 0)
        })
    timing.extra["segments"] = String(model!.k)
    timing.extra["core_customers"] = String(model!.density!.corePoints.rows)
    report(timing)

    let wardRows = min(rows, 10_000)
    let head = x.selecting(rows: Array(0..<wardRows))
    var labels: [Int32] = []
    timing = Timing(
        name: "ward_\(wardRows)x4_k6",
        seconds: try measure(repeats) {
            labels = Ward.labels(try Ward().tree(head), rows: wardRows, k: 6)
        })
    timing.extra["cluster_sizes"] = Dictionary(grouping: labels, by: { $0 }).values.map(\.count)
        .sorted().map(String.init).joined(separator: "/")
    report(timing)
}

let arguments = Array(CommandLine.arguments.dropFirst())
do {
    switch arguments.first {
    case "--smoke":
        // Seconds, for CI: every code path of the benchmark, on tiny inputs.
        try generatedSweep(customers: 300, repeats: 1, nInit: 2, csvOut: nil)
        try kmeansLarge(rows: 20_000, outDirectory: nil, repeats: 1)
        try algorithms(rows: 3_000, outDirectory: nil, repeats: 1)
        try kmeansRFM(rows: 5_000, outDirectory: nil, repeats: 1)
        try miniBatchMemory(rows: 20_000)
        try customerValueGenerated(customers: 2_000, repeats: 1)
        try customerValueSimulated(customers: 2_000, summaryOut: nil, repeats: 1)
        print("benchmark smoke run: ok")
    case "retail":
        guard arguments.count >= 2 else { throw CocoaError(.fileNoSuchFile) }
        try csvLibraryComparison(
            arguments[1], repeats: Int(arguments.dropFirst(2).first ?? "") ?? 3)
        try retail(arguments[1], repeats: Int(arguments.dropFirst(2).first ?? "") ?? 3, nInit: 10)
    case "retail-sweep":
        // The Online Retail sweep alone, read once and swept many times (for profiling).
        guard arguments.count >= 2 else { throw CocoaError(.fileNoSuchFile) }
        try retail(
            arguments[1], repeats: 1, nInit: 10,
            sweepRepeats: Int(arguments.dropFirst(2).first ?? "") ?? 9)
    case "sweep-generated":
        try generatedSweep(
            customers: Int(arguments.dropFirst().first ?? "") ?? 25_000,
            repeats: Int(arguments.dropFirst(2).first ?? "") ?? 3, nInit: 10,
            csvOut: arguments.dropFirst(3).first)
    case "kmeans":
        // An empty out-dir means no peer copy (never a 64 MB file in the working folder).
        try kmeansLarge(
            rows: Int(arguments.dropFirst().first ?? "") ?? 1_000_000,
            outDirectory: arguments.dropFirst(2).first.flatMap { $0.isEmpty ? nil : $0 },
            repeats: Int(arguments.dropFirst(3).first ?? "") ?? 3)
    case "minibatch-memory":
        try miniBatchMemory(rows: Int(arguments.dropFirst().first ?? "") ?? 1_000_000)
    case "kmeans-rfm":
        try kmeansRFM(
            rows: Int(arguments.dropFirst().first ?? "") ?? 1_000_000,
            outDirectory: arguments.dropFirst(2).first.flatMap { $0.isEmpty ? nil : $0 },
            repeats: Int(arguments.dropFirst(3).first ?? "") ?? 3)
    case "btyd-retail":
        guard arguments.count >= 2 else { throw CocoaError(.fileNoSuchFile) }
        try customerValueRetail(
            arguments[1], summaryOut: arguments.dropFirst(2).first,
            repeats: Int(arguments.dropFirst(3).first ?? "") ?? 3)
    case "train-retail":
        guard arguments.count >= 2 else { throw CocoaError(.fileNoSuchFile) }
        try trainRetail(arguments[1], repeats: Int(arguments.dropFirst(2).first ?? "") ?? 3)
    case "btyd-simulated":
        try customerValueSimulated(
            customers: Int(arguments.dropFirst().first ?? "") ?? 100_000,
            summaryOut: arguments.dropFirst(2).first.flatMap { $0.isEmpty ? nil : $0 },
            repeats: Int(arguments.dropFirst(3).first ?? "") ?? 3)
    case "algorithms":
        try algorithms(
            rows: Int(arguments.dropFirst().first ?? "") ?? 100_000,
            outDirectory: arguments.dropFirst(2).first.flatMap { $0.isEmpty ? nil : $0 },
            repeats: Int(arguments.dropFirst(3).first ?? "") ?? 3)
    default:
        FileHandle.standardError.write(
            Data(
                """
                usage: segment-bench retail <by-day folder> [repeats]
                       segment-bench retail-sweep <by-day folder> [repeats]
                       segment-bench sweep-generated [customers] [repeats] [write-csv-path]
                       segment-bench kmeans [rows] [out-dir] [repeats]
                       segment-bench algorithms [rows] [out-dir] [repeats]
                       segment-bench kmeans-rfm [rows] [out-dir] [repeats]
                       segment-bench minibatch-memory [rows]
                       segment-bench btyd-retail <by-day folder> [summary-csv] [repeats]
                       segment-bench btyd-simulated [customers] [summary-csv] [repeats]
                       segment-bench train-retail <by-day folder> [repeats]
                       segment-bench --smoke

                """.utf8))
        exit(64)
    }
} catch {
    FileHandle.standardError.write(Data("segment-bench: error: \(error)\n".utf8))
    exit(1)
}
