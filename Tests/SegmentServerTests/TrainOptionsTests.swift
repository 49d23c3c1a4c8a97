import Testing

@testable import SegmentCLI

/// `segment train` checks its options by the server's own rules (SegmentationMapping's) before
/// uploading anything, and names its flags, not the API's fields, in what it refuses.
@Suite("segment train: the server's rules before the upload, in the CLI's words")
struct TrainOptionsTests {
    /// The usage error `segment train ARGS` gives, or nil when its options are accepted.
    static func refusal(_ arguments: [String]) throws -> String? {
        let train = try Train.parse(["data.csv", "--model", "m"] + arguments)
        do {
            _ = try train.buildSpec()
            return nil
        } catch CLIError.usage(let message) {
            return message
        }
    }

    @Test("Each refusal names the flag to change")
    func refusalsNameFlags() throws {
        let cases: [(arguments: [String], says: [String])] = [
            (["--eps", "0.5"], ["--eps and --min-samples", "dbscan"]),
            (["--covariance", "diag"], ["--covariance", "gmm"]),
            (["--algorithm", "dbscan", "--k", "4"], ["--k", "DBSCAN"]),
            (["--algorithm", "ward", "--n-init", "4"], ["--n-init", "k-means"]),
            (
                ["--sensitive", "Gender"],
                ["--sensitive and --allow-sensitive", "--kind customers"]
            ),
            (
                ["--kind", "customers", "--keep-cancelled"],
                ["--keep-cancelled and --gross-spend", "--kind transactions"]
            ),
            (["--log", "tenure"], ["--log", "tenure", "not a clustering feature"]),
            (["--selection", "bic", "--k", "2...6"], ["bic", "gmm"]),
        ]
        for (arguments, says) in cases {
            let message = try Self.refusal(arguments)
            #expect(message != nil, "\(arguments) was accepted")
            for words in says {
                #expect(
                    message?.contains(words) == true,
                    "\(arguments): \(message ?? "accepted") does not say \(words)")
            }
            #expect(
                message?.contains("spec.") == false,
                "\(arguments): \(message ?? "") names an API field, not a flag")
        }
    }

    @Test(
        "What the server would take passes, with the engine's bounds (a server's --max-k may be above its default 100)"
    )
    func acceptedAsTheServerWould() throws {
        #expect(try Self.refusal([]) == nil)
        #expect(try Self.refusal(["--k", "150"]) == nil)
        #expect(
            try Self.refusal(["--algorithm", "dbscan", "--eps", "0.4", "--min-samples", "6"]) == nil
        )
        #expect(
            try Self.refusal([
                "--algorithm", "gmm", "--covariance", "spherical", "--selection", "bic", "--k",
                "2...6",
            ]) == nil)
        #expect(
            try Self.refusal([
                "--kind", "customers", "--sensitive", "Tier", "--allow-sensitive", "Age",
            ]) == nil)
    }
}
