import Crypto
import Foundation
import SegmentationEngine
import Testing

@testable import SegmentCLI

/// The built `segment-server` and `segment` executables, run as separate processes.
@Suite("Executables as separate processes", .serialized, .timeLimit(.minutes(10)))
struct ProcessTests {
    static let binaries = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        .deletingLastPathComponent()
    static let server = binaries.appendingPathComponent("segment-server").path
    static let client = binaries.appendingPathComponent("segment").path
    static var built: Bool {
        FileManager.default.isExecutableFile(atPath: server)
            && FileManager.default.isExecutableFile(atPath: client)
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a program to its end (bounded: past `seconds` it is killed and the test fails).
    @discardableResult
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        seconds: Double = 300
    ) async throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = PipeReader(out), stderr = PipeReader(err)
        let command = ([(executable as NSString).lastPathComponent] + arguments).joined(
            separator: " ")
        let status = try await ChildProcess.waitForExit(process, seconds: seconds, what: command)
        return Result(status: status, stdout: await stdout.whole(), stderr: await stderr.whole())
    }

    @Test(
        "segment-server backup while serving, restore into a fresh folder: the restored server scores identically; a damaged, truncated or misplaced restore is refused and writes nothing",
        .enabled(if: built, "build the executables first (swift build); scripts/test.sh does"))
    func backupAndRestore() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent(
            "segment-backup-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        func at(_ name: String) -> String { (work as NSString).appendingPathComponent(name) }
        let sample = at("tx.csv")
        #expect(
            try await Self.run(
                Self.client,
                ["generate-sample", "--customers", "400", "--seed", "8", "--file", sample]
            ).status == 0)
        let first = try await ServerProcess.start(dataDirectory: at("a"))
        defer { first.stopWithoutWaiting() }
        let env = ["SEGMENT_SERVER": "127.0.0.1:\(first.port)"]
        let trained = try await Self.run(
            Self.client, ["train", sample, "--model", "shop", "--k", "3", "--wait"],
            environment: env)
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(
            try await Self.run(
                Self.client, ["models", "alias", "shop", "production", "1"], environment: env
            ).status == 0)
        let before = try await Self.run(
            Self.client, ["score", "--model", "shop@production", sample, "-o", "csv"],
            environment: env)
        // Taken while the server runs.
        let backup = try await Self.run(
            Self.server, ["backup", "--data-dir", at("a"), "--to", at("shop.backup")])
        #expect(
            backup.status == 0
                && backup.stdout.hasPrefix("backed up 1 models, 1 versions and 1 datasets"),
            "\(backup.status) \(backup.stdout) \(backup.stderr)")

        // Damaged and truncated copies are refused (65) and leave no registry behind.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: at("shop.backup")))
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: at("damaged.backup")))
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: at("short.backup")))
        for (file, says) in [("damaged.backup", "checksum"), ("short.backup", "truncated")] {
            let refused = try await Self.run(
                Self.server, ["restore", "--from", at(file), "--data-dir", at("c")])
            #expect(
                refused.status == 65 && refused.stderr.contains(says)
                    && refused.stderr.split(separator: "\n").count == 1,
                "\(file): \(refused.status) \(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: at("c/registry.sqlite")))
        }
        let restored = try await Self.run(
            Self.server, ["restore", "--from", at("shop.backup"), "--data-dir", at("b")])
        #expect(restored.status == 0, "\(restored.stderr)")
        // Never over a registry.
        #expect(
            try await Self.run(
                Self.server, ["restore", "--from", at("shop.backup"), "--data-dir", at("b")]
            ).status == 73)
        // Nor beside an old registry's write-ahead log, which SQLite would replay onto it.
        try FileManager.default.createDirectory(atPath: at("w"), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: at("w/registry.sqlite-wal"), contents: Data([1]))
        let besideWAL = try await Self.run(
            Self.server, ["restore", "--from", at("shop.backup"), "--data-dir", at("w")])
        #expect(besideWAL.status == 73 && besideWAL.stderr.contains("registry.sqlite-wal"))
        #expect(
            try await Self.run(
                Self.server, ["backup", "--data-dir", at("nothing"), "--to", at("x.backup")]
            ).status == 73)

        let second = try await ServerProcess.start(dataDirectory: at("b"))
        defer { second.stopWithoutWaiting() }
        let restoredEnv = ["SEGMENT_SERVER": "127.0.0.1:\(second.port)"]
        let after = try await Self.run(
            Self.client, ["score", "--model", "shop@production", sample, "-o", "csv"],
            environment: restoredEnv)
        #expect(after.status == 0 && after.stdout == before.stdout && before.stdout.count > 1000)
        // Its training data came along: the version can be exported and retrained from.
        let exported = try await Self.run(
            Self.client, ["models", "export", "shop@1", "--output", at("export.csv")],
            environment: restoredEnv)
        #expect(exported.status == 0, "\(exported.stderr)")

        // One version moved by file: export-model from the first server, import-model into the
        // restored one under another name; it scores as it did.
        let file = at("shop.model")
        #expect(
            try await Self.run(
                Self.client, ["models", "export-model", "shop@production", "--to", file],
                environment: env
            ).status == 0)
        let imported = try await Self.run(
            Self.client, ["models", "import-model", file, "--name", "moved", "-o", "csv"],
            environment: restoredEnv)
        #expect(
            imported.stdout.contains("moved,1,3,400,shop@1"),
            "\(imported.stdout) \(imported.stderr)")
        let moved = try await Self.run(
            Self.client, ["score", "--model", "moved", sample, "-o", "csv"],
            environment: restoredEnv)
        #expect(moved.stdout == before.stdout)
        // Into a model with versions: a new version whose segments are not matched, saying why.
        #expect(
            try await Self.run(
                Self.client, ["models", "import-model", file], environment: restoredEnv
            ).stdout.contains("shop   2"))
        let shown = try await Self.run(
            Self.client, ["models", "show", "shop@2"], environment: restoredEnv)
        #expect(shown.stdout.contains("imported from shop@1"), "\(shown.stdout)")
        // A damaged file (exit 4) and a model from a newer server (exit 6) change nothing.
        var damaged = try Data(contentsOf: URL(fileURLWithPath: file))
        damaged[damaged.count / 2] ^= 0x01
        try damaged.write(to: URL(fileURLWithPath: at("damaged.model")))
        let refused = try await Self.run(
            Self.client, ["models", "import-model", at("damaged.model")], environment: restoredEnv)
        #expect(refused.status == 4 && refused.stderr.contains("checksum"), "\(refused.stderr)")
        var (header, model) = try ModelFile.decode(
            try Data(contentsOf: URL(fileURLWithPath: file)), path: file)
        model[11] = 99  // the model's format version, past what this server reads
        header.sha256 = SHA256.hash(data: model).map { String(format: "%02x", $0) }.joined()
        try ModelFile.encode(header: header, model: model).write(
            to: URL(fileURLWithPath: at("newer.model")))
        let newer = try await Self.run(
            Self.client, ["models", "import-model", at("newer.model")], environment: restoredEnv)
        #expect(newer.status == 6 && newer.stderr.contains("newer server"), "\(newer.stderr)")
        let versions = try await Self.run(
            Self.client, ["models", "versions", "shop", "-o", "csv"], environment: restoredEnv)
        #expect(versions.stdout.split(separator: "\n").count == 3, "\(versions.stdout)")
    }

    @Test(
        "--version on both binaries: the version, the commit and the build date, the same build",
        .enabled(if: built, "build the executables first (swift build); scripts/test.sh does"))
    func versions() async throws {
        let pattern =
            #/^(segment|segment-server) (\d+\.\d+\.\d+\S*) \(commit ([0-9a-f]{12}(-dirty)?|unknown), built (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)\n$/#
        var builds: [String] = []
        for binary in [Self.server, Self.client] {
            let result = try await Self.run(binary, ["--version"])
            #expect(result.status == 0, "\(result.stderr)")
            let match = try #require(result.stdout.wholeMatch(of: pattern), "\(result.stdout)")
            builds.append("\(match.2) \(match.3)")
        }
        #expect(builds[0] == builds[1])
    }

    @Test(
        "segment and segment-server: train --wait, score, aliases, exit codes, restart on the same data dir",
        .enabled(if: built, "build the executables first (swift build); scripts/test.sh does"))
    func executables() async throws {
        func lines0(_ path: String) throws -> Substring {
            try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")[0]
        }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent(
            "segment-proc-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let data = (work as NSString).appendingPathComponent("data")
        let sample = (work as NSString).appendingPathComponent("sample.csv")

        let generated = try await Self.run(
            Self.client, ["generate-sample", "--customers", "400", "--seed", "2", "--file", sample])
        #expect(generated.status == 0, "\(generated.stderr)")

        var server = try await ServerProcess.start(dataDirectory: data)
        let env = ["SEGMENT_SERVER": "127.0.0.1:\(server.port)"]
        // A second server on the same data directory refuses to start, naming the holder (exit 78).
        let second = try await Self.run(Self.server, ["--port", "0", "--data-dir", data])
        #expect(
            second.status == 78
                && second.stderr.contains(
                    "in use by another segment-server (pid \(server.processIdentifier)")
                && !second.stderr.contains("USAGE"), "\(second.status) \(second.stderr)")
        // An unreachable registry: exit 69, no usage text.
        defer { try? FileManager.default.removeItem(atPath: data + "-pg") }
        let unreachable = try await Self.run(
            Self.server,
            [
                "--port", "0", "--data-dir", data + "-pg", "--registry",
                "postgres://segment@127.0.0.1:1/segment",
            ],
            environment: ["SEGMENT_REGISTRY_PASSWORD": "x"])
        #expect(
            unreachable.status == 69 && unreachable.stderr.contains("cannot open the registry")
                && !unreachable.stderr.contains("USAGE"),
            "\(unreachable.status) \(unreachable.stderr)")
        let trained = try await Self.run(
            Self.client,
            ["train", sample, "--model", "shop", "--k", "2...4", "--n-init", "3", "--wait"],
            environment: env)
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(trained.stdout.contains("model shop@1"))
        #expect(trained.stderr.contains("k=3"))
        // train --wait ends with the text charts: shares as bars, the k table with the chosen row marked.
        #expect(trained.stdout.contains("segment shares") && trained.stdout.contains("█"))
        #expect(
            trained.stdout.split(separator: "\n").filter {
                $0.contains("▶") && $0.contains("chosen")
            }.count == 1)
        let shown = try await Self.run(Self.client, ["models", "show", "shop"], environment: env)
        #expect(
            shown.stdout.contains("silhouette over k = 2...4: ")
                && shown.stdout.contains("segment shares"))
        let reportPath = (work as NSString).appendingPathComponent("shop.html")
        let report = try await Self.run(
            Self.client, ["report", "shop", "-o", reportPath], environment: env)
        #expect(
            report.status == 0 && report.stdout.hasPrefix("wrote \(reportPath)"), "\(report.stderr)"
        )
        #expect(
            try String(contentsOfFile: reportPath, encoding: .utf8).contains(
                "<figure id=\"segment-map\""))
        #expect(
            try await Self.run(Self.client, ["report", "shop", "-o", "json"], environment: env)
                .status == 64)
        #expect(
            try await Self.run(
                Self.client, ["report", "nosuch", "-o", reportPath + "2"], environment: env
            ).status == 3)

        let scored = try await Self.run(
            Self.client, ["score", "--model", "shop", sample, "--output", "csv"], environment: env)
        #expect(scored.status == 0, "\(scored.stderr)")
        let header =
            "customer,segment_id,segment,distance,runner_up_id,runner_up,runner_up_distance,rfm_segment,outlier,atypical,"
            + "p_alive,expected_purchases_90d,expected_spend,clv_365d,"
            + "contribution_recency,contribution_frequency,contribution_monetary,contribution_avg_order_value"
        #expect(scored.stdout.split(separator: "\n").first.map(String.init) == header)
        #expect(scored.stdout.split(separator: "\n").count == 401)
        #expect(scored.stderr.contains("scored 400 customers with shop@1"))
        // Other horizons and recommendations: named columns, a P(alive) in [0, 1] and two
        // products for every customer.
        let valued = try await Self.run(
            Self.client,
            [
                "score", "--model", "shop", sample, "--output", "csv", "--recommend", "2",
                "--purchase-horizon-days", "30", "--value-horizon-days", "180",
                "--discount-rate", "0.1",
            ], environment: env)
        #expect(valued.status == 0, "\(valued.stderr)")
        let table = try CSVReader.rows(of: valued.stdout)
        let columns = table[0]
        #expect(
            columns.contains("expected_purchases_30d") && columns.contains("clv_180d")
                && columns.contains("recommendations"), "\(columns)")
        let alive = columns.firstIndex(of: "p_alive")!,
            recommended = columns.firstIndex(of: "recommendations")!
        // At most two each: what a customer has already bought is left out, so a frequent buyer
        // of the sample's 18 products may get fewer.
        var counts: [Int] = []
        for row in table.dropFirst() where row.count == columns.count {
            #expect((0...1).contains(Double(row[alive]) ?? -1), "\(row)")
            counts.append(row[recommended].split(separator: ";").count)
        }
        #expect(counts.count == 400 && counts.allSatisfy { $0 <= 2 })
        #expect(counts.count { $0 == 2 } > 100, "\(counts)")
        let badHorizon = try await Self.run(
            Self.client, ["score", "--model", "shop", sample, "--value-horizon-days", "0"],
            environment: env)
        #expect(
            badHorizon.status == 64 && badHorizon.stderr.contains("--value-horizon-days"),
            "\(badHorizon.stderr)")
        #expect(
            shown.stdout.contains("customer value (BG/NBD r ")
                && shown.stdout.contains("what each segment buys"), "\(shown.stdout)")
        // models show prints the facts behind the names and the stability figure.
        #expect(
            shown.stdout.contains("segment facts (lapsed: no purchase for over")
                && shown.stdout.contains("stability: 10 refits"), "\(shown.stdout)")
        // A file of which no row can be scored fails with the reason counted, never "scored 0 customers".
        let unusable = (work as NSString).appendingPathComponent("unusable.csv")
        try
            (String(lines0(sample))
            + "\n1,A,Mug,two,2011-01-01 10:00,1.5,17850,UK\n2,A,Mug,1,2011-01-01 10:00,1.5,,UK\n")
            .write(toFile: unusable, atomically: true, encoding: .utf8)
        let none = try await Self.run(
            Self.client, ["score", "--model", "shop", unusable], environment: env)
        #expect(
            none.status == 4 && none.stderr.contains("no scorable row"),
            "\(none.status) \(none.stderr)")

        // The same rows split across three files (every customer's rows scattered): the same segments.
        let folder = (work as NSString).appendingPathComponent("split")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let lines = try String(contentsOfFile: sample, encoding: .utf8).split(separator: "\n")
        for part in 0..<3 {
            let body = lines.dropFirst().enumerated().filter { $0.offset % 3 == part }.map {
                String($0.element)
            }
            try ([String(lines[0])] + body).joined(separator: "\n").write(
                toFile: "\(folder)/part-\(part).csv", atomically: true, encoding: .utf8)
        }
        let split = try await Self.run(
            Self.client, ["score", "--model", "shop", folder, "--output", "csv"], environment: env)
        #expect(split.status == 0, "\(split.stderr)")
        func segments(_ csv: String) -> [String: String] {
            Dictionary(
                uniqueKeysWithValues: csv.split(separator: "\n").dropFirst().map { line in
                    let cells = line.split(separator: ",", omittingEmptySubsequences: false)
                    return (String(cells[0]), String(cells[1]))
                })
        }
        #expect(segments(split.stdout) == segments(scored.stdout))
        #expect(split.stderr.contains("without a customer id skipped"))

        // JSON keeps zero-valued fields: every score has a segmentId, segment 0 included.
        let scoredJSON = try await Self.run(
            Self.client, ["score", "--model", "shop", sample, "--output", "json"], environment: env)
        let scores =
            ((try JSONSerialization.jsonObject(with: Data(scoredJSON.stdout.utf8)) as? [String: Any])?[
                "scores"] as? [String: Any])?["scores"] as? [[String: Any]] ?? []
        #expect(
            scores.count == 400
                && scores.allSatisfy { $0["segmentId"] is NSNumber && $0["outlier"] is Bool })
        #expect(scores.contains { ($0["segmentId"] as? NSNumber)?.intValue == 0 })
        #expect(
            try await Self.run(
                Self.client, ["score", "--model", "shop", sample, "--kind", "customers"],
                environment: env
            ).status == 4)

        let exportPath = (work as NSString).appendingPathComponent("assignments.csv")
        let exported = try await Self.run(
            Self.client, ["models", "export", "shop", "-o", exportPath], environment: env)
        #expect(exported.status == 0, "\(exported.stderr)")
        let exportedLines = try String(contentsOfFile: exportPath, encoding: .utf8).split(
            separator: "\n")
        #expect(exportedLines.count == 401)
        #expect(segments(exportedLines.joined(separator: "\n")) == segments(scored.stdout))
        // The export's customer-value figures are the scores' (the same customers, the same snapshot).
        func figures(_ csv: String) throws -> [String: [String]] {
            let rows = try CSVReader.rows(of: csv)
            let at = ["p_alive", "expected_purchases_90d", "expected_spend", "clv_365d"].map {
                rows[0].firstIndex(of: $0)!
            }
            return Dictionary(
                uniqueKeysWithValues: rows.dropFirst().filter { $0.count == rows[0].count }.map {
                    row in (row[0], at.map { row[$0] })
                })
        }
        let exportedFigures = try figures(exportedLines.joined(separator: "\n"))
        let scoredFigures = try figures(scored.stdout)
        #expect(exportedFigures.count == 400 && exportedFigures == scoredFigures)

        #expect(
            try await Self.run(
                Self.client, ["models", "alias", "shop", "production", "1"], environment: env
            ).status == 0)
        // Compare-and-swap: expecting a version the alias is not on changes nothing (exit 6,
        // one line naming where it is); expecting the right one switches.
        let stale = try await Self.run(
            Self.client,
            ["models", "alias", "shop", "production", "1", "--expect-version", "0"],
            environment: env)
        #expect(
            stale.status == 6 && stale.stderr.contains("points at version 1, not no version"),
            "\(stale.status) \(stale.stderr)")
        #expect(
            try await Self.run(
                Self.client,
                [
                    "models", "alias", "shop", "production", "1", "--expect-version", "1", "-o",
                    "json",
                ],
                environment: env
            ).status == 0)
        let refused = try await Self.run(
            Self.client, ["models", "delete", "shop@1"], environment: env)
        #expect(refused.status == 6)
        #expect(
            refused.stderr.hasPrefix("segment: error:")
                && refused.stderr.split(separator: "\n").count == 1)
        #expect(
            try await Self.run(Self.client, ["models", "show", "shop@nope"], environment: env)
                .status == 3)
        #expect(
            try await Self.run(
                Self.client, ["train", "/no/such/file.csv", "--model", "x"], environment: env
            ).status == 4)
        #expect(
            try await Self.run(
                Self.client, ["train", sample, "--model", "x", "--k", "1"], environment: env
            ).status == 64)
        let json = try await Self.run(
            Self.client, ["models", "list", "--output", "json"], environment: env)
        let parsed =
            try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((parsed?["models"] as? [[String: Any]])?.first?["name"] as? String == "shop")

        try await server.interrupt()
        #expect(server.terminationStatus == 0)
        #expect(try await Self.run(Self.client, ["models", "list"], environment: env).status == 5)

        server = try await ServerProcess.start(dataDirectory: data)
        defer { server.stopWithoutWaiting() }
        let versions = try await Self.run(
            Self.client, ["models", "versions", "shop", "--output", "csv"],
            environment: ["SEGMENT_SERVER": "127.0.0.1:\(server.port)"])
        #expect(versions.status == 0)
        #expect(versions.stdout.contains("1,production,"))
    }

    static let retailFolder: String = {
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let shared =
            ProcessInfo.processInfo.environment["SEGMENT_SHARED_DIR"]
            ?? package.deletingLastPathComponent().appendingPathComponent("shared").path
        return (shared as NSString).appendingPathComponent("data/online-retail/by-day")
    }()

    @Test(
        "Online Retail through the CLI: the default k is 3 to 6, scoring the 305 daily files gives all 4,319 customers (those with net spend) their training segments",
        .enabled(
            if: built && FileManager.default.fileExists(atPath: retailFolder),
            "needs the built executables and ../shared/data"))
    func onlineRetail() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent(
            "segment-retail-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let server = try await ServerProcess.start(
            dataDirectory: (work as NSString).appendingPathComponent("data"))
        defer { server.stopWithoutWaiting() }
        let env = ["SEGMENT_SERVER": "127.0.0.1:\(server.port)"]
        // First the half-year to the end of May 2011, then the whole year: the second version
        // continues the first.
        let firstHalf = try FileManager.default.contentsOfDirectory(atPath: Self.retailFolder)
            .filter { $0 < "2011-06" }.sorted()
            .map { (Self.retailFolder as NSString).appendingPathComponent($0) }
        let half = try await Self.run(
            Self.client, ["train"] + firstHalf + ["--model", "retail", "--n-init", "4", "--wait"],
            environment: env)
        #expect(half.status == 0, "\(half.stderr)")
        let trained = try await Self.run(
            Self.client,
            ["train", Self.retailFolder, "--model", "retail", "--n-init", "4", "--wait"],
            environment: env)
        #expect(trained.status == 0, "\(trained.stderr)")
        try await Self.checkOverTime(env)
        let shown = try await Self.run(
            Self.client, ["models", "show", "retail", "--output", "json"], environment: env)
        let detail = try #require(
            try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])
        let k = (detail["chosenK"] as? NSNumber)?.intValue ?? 0
        #expect((3...6).contains(k))
        #expect((detail["selectionReason"] as? String)?.hasPrefix("actionable:") == true)
        let table = try await Self.run(Self.client, ["models", "show", "retail"], environment: env)
        // Description names the products each segment buys.
        #expect(!table.stdout.contains("columns not used: Description"))
        #expect(
            table.stdout.contains("what each segment buys")
                && table.stdout.contains("REGENCY CAKESTAND 3 TIER"))
        #expect(table.stdout.contains("warning: the purchase model finds almost no dropout"))
        #expect(!table.stdout.contains("; ;") && !table.stdout.contains(": \n"))

        let scored = try await Self.run(
            Self.client, ["score", "--model", "retail", Self.retailFolder, "--output", "csv"],
            environment: env)
        #expect(scored.status == 0, "\(scored.stderr)")
        #expect(
            scored.stderr.contains("scored 4319 customers")
                && scored.stderr.contains("135080 without a customer id skipped"))
        let exportPath = (work as NSString).appendingPathComponent("assignments.csv")
        #expect(
            try await Self.run(
                Self.client, ["models", "export", "retail", "-o", exportPath], environment: env
            ).status == 0)
        func segments(_ csv: String) -> [Substring: Substring] {
            Dictionary(
                uniqueKeysWithValues: csv.split(separator: "\n").dropFirst().map { line in
                    let cells = line.split(
                        separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
                    return (cells[0], cells[1])
                })
        }
        let scoredSegments = segments(scored.stdout)
        #expect(scoredSegments.count == 4319)
        #expect(scoredSegments == segments(try String(contentsOfFile: exportPath, encoding: .utf8)))
    }

    /// Online Retail's half-year (@1) and whole year (@2) as a new user reads them: the match in
    /// `models show`, the diff's counts adding up to the year's customers, sizes per version and
    /// drift after scoring.
    static func checkOverTime(_ env: [String: String]) async throws {
        let shown = try await run(client, ["models", "show", "retail"], environment: env)
        #expect(shown.stdout.contains("segments matched to @1"))
        #expect(shown.stdout.contains("stable_id"))
        let csv = try await run(
            client, ["models", "diff", "retail@1", "retail@2", "--output", "csv"], environment: env)
        #expect(csv.status == 0, "\(csv.stderr)")
        let lines = csv.stdout.split(separator: "\n")
        #expect(
            lines.first?.hasPrefix(
                "from_segment_id,from_segment,to_segment_id,to_segment,customers") == true)
        // Names hold commas (quoted): fields are split outside quotes.
        func fields(_ line: Substring) -> [String] {
            var (fields, field, quoted) = ([String](), "", false)
            for character in line {
                if character == "\"" {
                    quoted.toggle()
                } else if character == "," && !quoted {
                    fields.append(field)
                    field = ""
                } else {
                    field.append(character)
                }
            }
            return fields + [field]
        }
        let counts = lines.dropFirst().compactMap { Int(fields($0)[4]) }
        #expect(counts.count == lines.count - 1)
        #expect(counts.reduce(0, +) == 4319)
        let table = try await run(
            client, ["models", "diff", "retail@1", "retail@2"], environment: env)
        #expect(table.stdout.contains("4319 customers of retail@2's training data"))
        #expect(table.stdout.contains("moved: "))
        let sizes = try await run(client, ["models", "sizes", "retail"], environment: env)
        #expect(sizes.stdout.contains("@1") && sizes.stdout.contains("@2"))
    }
}
