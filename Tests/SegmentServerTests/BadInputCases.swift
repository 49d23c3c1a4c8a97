import Foundation
import GRPCCore
import GRPCProtobuf
import SegmentationAPI
import SegmentationEngine
import Testing

@testable import SegmentCLI
@testable import SegmentServer

/// The bad training specs and registry requests `BadInputTests.table` sends, each with the status it must get.
extension BadInputTests {
    static func specCases(dataset: String) -> [BadInput] {
        let huge = String(repeating: "x", count: 1 << 20)
        let changes: [(String, @Sendable (inout Segmentation_V1_TrainingSpec) -> Void, String)] = [
            ("k = 1", { $0.k = 1 }, "at least 2"),
            ("k above 100", { $0.k = 101 }, "at most 100"),
            (
                "k range above 100",
                {
                    $0.kRange = .with {
                        $0.min = 2; $0.max = 500
                    }
                }, "k_range"
            ),
            (
                "k range upside down",
                {
                    $0.kRange = .with {
                        $0.min = 6; $0.max = 3
                    }
                }, "k_range"
            ),
            ("k above the customers", { $0.k = 100 }, "customers"),
            ("unknown scaling", { $0.scaling = .UNRECOGNIZED(42) }, "spec.scaling"),
            (
                "unknown log transform", { $0.logTransform = .UNRECOGNIZED(42) },
                "spec.log_transform"
            ),
            ("unknown algorithm", { $0.algorithm = .UNRECOGNIZED(42) }, "spec.algorithm"),
            ("unknown selection", { $0.selection = .UNRECOGNIZED(42) }, "spec.selection"),
            ("listed log with no feature", { $0.logTransform = .listed }, "names no feature"),
            (
                "listed log of an unknown feature",
                {
                    $0.logTransform = .listed; $0.logFeatures = ["shoe_size"]
                }, "log_features"
            ),
            (
                "elbow with one k",
                {
                    $0.k = 4; $0.selection = .elbow
                }, "one k"
            ),
            ("snapshot 0001-01-01", { $0.snapshotDate = "0001-01-01" }, "outside"),
            ("snapshot 9999-12-31", { $0.snapshotDate = "9999-12-31" }, "outside"),
            ("snapshot not a date", { $0.snapshotDate = "yesterday" }, "not a date"),
            ("unknown feature", { $0.features = ["shoe_size"] }, "shoe_size"),
            ("filter without a mode", { $0.filters = [.with { $0.column = "Country" }] }, "mode"),
            (
                "filter on a missing column",
                {
                    $0.filters = [
                        .with {
                            $0.mode = .exclude; $0.column = "Status"; $0.value = "x"
                        }
                    ]
                }, "to filter on"
            ),
            ("n_init too large", { $0.nInit = 5000 }, "n_init"),
            ("n_init over the server's flag", { $0.nInit = 101 }, "this server's most"),
            ("max_iter over the server's flag", { $0.maxIter = 20_000 }, "this server's most"),
            (
                "more features than columns allowed", { $0.features = (0..<1001).map { "f\($0)" } },
                "this server's most"
            ),
            ("model name '.'", { $0.modelName = "." }, "model name"),
            ("model name '..'", { $0.modelName = ".." }, "model name"),
            ("model name too long", { $0.modelName = huge }, "bytes"),
            ("model name with a slash", { $0.modelName = "a/b" }, "model name"),
            ("no model name", { $0.modelName = "" }, "model name"),
            ("no dataset", { $0.datasetID = "" }, "dataset_id"),
            ("features named twice", { $0.features = ["recency", "recency"] }, "recency"),
            ("negative tolerance", { $0.tol = -1 }, "tol"),
        ]
        return changes.map { label, change, names in
            BadInput(label: "spec: \(label)", code: .invalidArgument, names: names) { services in
                var spec = Segmentation_V1_TrainingSpec.with {
                    $0.modelName = "m"; $0.datasetID = dataset
                }
                change(&spec)
                _ = try await services.training.submitTrainingJob(
                    .with { $0.spec = spec }, options: largeResponses)
            }
        } + [
            BadInput(label: "spec: unknown dataset", code: .notFound, names: "dataset") {
                services in
                _ = try await services.training.submitTrainingJob(
                    .with {
                        $0.spec = .with {
                            $0.modelName = "m"; $0.datasetID = "sha256:0000"
                        }
                    })
            }
        ]
    }

    static func registryCases(job: String) -> [BadInput] {
        let accents = "a" + String(repeating: "\u{301}", count: 60_000)
        var cases: [BadInput] = []
        for alias in ["latest", "LATEST", "12", "", "a b", String(repeating: "a", count: 65)] {
            cases.append(
                BadInput(
                    label: "alias '\(alias.prefix(8))' (\(alias.count) characters)",
                    code: .invalidArgument, names: "alias"
                ) { services in
                    _ = try await services.models.setAlias(
                        .with {
                            $0.model = .init(name: "m", version: Int(1)); $0.alias = alias
                        })
                })
        }
        func rename(
            _ change: @escaping @Sendable (inout Segmentation_V1_RenameSegmentRequest) -> Void
        ) -> @Sendable (Services) async throws -> Void {
            { services in
                var request = Segmentation_V1_RenameSegmentRequest.with {
                    $0.model = .init(text: "m"); $0.segmentID = 0
                }
                change(&request)
                _ = try await services.models.renameSegment(request, options: largeResponses)
            }
        }
        cases += [
            BadInput(
                label: "alias to a missing version", code: .notFound, names: "m@9",
                call: { services in
                    _ = try await services.models.setAlias(
                        .with {
                            $0.model = .init(name: "m", version: Int(9)); $0.alias = "prod"
                        })
                }),
            BadInput(
                label: "alias on a missing model", code: .notFound, names: "ghost",
                call: { services in
                    _ = try await services.models.setAlias(
                        .with {
                            $0.model = .init(name: "ghost", version: Int(1)); $0.alias = "prod"
                        })
                }),
            BadInput(
                label: "unalias a missing alias", code: .notFound, names: "canary",
                call: { services in
                    _ = try await services.models.deleteAlias(
                        .with {
                            $0.name = "m"; $0.alias = "canary"
                        })
                }),
            BadInput(
                label: "delete an aliased version", code: .failedPrecondition, names: "prod",
                call: { services in
                    _ = try await services.models.deleteVersion(
                        .with { $0.model = .init(name: "m", version: 1) })
                }),
            BadInput(
                label: "delete a version by alias", code: .invalidArgument, names: "model.version",
                call: { services in
                    _ = try await services.models.deleteVersion(
                        .with {
                            $0.model = .init(text: "m@prod"); $0.force = true
                        })
                }),
            BadInput(
                label: "delete a missing version", code: .notFound, names: "m@7",
                call: { services in
                    _ = try await services.models.deleteVersion(
                        .with {
                            $0.model = .init(name: "m", version: 7); $0.force = true
                        })
                }),
            BadInput(
                label: "get a missing version", code: .notFound, names: "m@999",
                call: { services in
                    _ = try await services.models.getModel(
                        .with { $0.model = .init(text: "m@999") })
                }),
            BadInput(
                label: "get with an empty version", code: .invalidArgument, names: "alias ''",
                call: { services in
                    _ = try await services.models.getModel(.with { $0.model = .init(text: "m@") })
                }),
            BadInput(
                label: "get a 100 kB reference", code: .invalidArgument, names: "bytes",
                call: { services in
                    _ = try await services.models.getModel(
                        .with { $0.model = .init(text: String(repeating: "y", count: 100_000)) })
                }),
            BadInput(
                label: "get a reference of 60,000 combining accents", code: .invalidArgument,
                names: "bytes",
                call: { services in
                    _ = try await services.models.getModel(
                        .with { $0.model = .init(text: accents) })
                }),
            BadInput(
                label: "list versions of a missing model", code: .notFound, names: "ghost",
                call: { services in
                    _ = try await services.models.listVersions(.with { $0.name = "ghost" })
                }),
            BadInput(
                label: "export a missing model", code: .notFound, names: "ghost",
                call: { services in
                    _ = try await services.models.exportAssignments(
                        .with { $0.model = .init(text: "ghost") }
                    ) { for try await _ in $0.messages {} }
                }),
            BadInput(
                label: "rename an unknown segment", code: .notFound, names: "segment",
                call: rename { $0.segmentID = 42 }),
            BadInput(
                label: "rename to 101 characters", code: .invalidArgument, names: "100",
                call: rename { $0.newName = String(repeating: "n", count: 101) }),
            BadInput(
                label: "rename to combining accents", code: .invalidArgument, names: "100",
                call: rename { $0.newName = accents }),
            BadInput(
                label: "rename to a 1 MiB name", code: .invalidArgument, names: "100",
                call: rename { $0.newName = String(repeating: "n", count: 1 << 20) }),
            BadInput(
                label: "description of 1,001 characters", code: .invalidArgument, names: "1000",
                call: rename { $0.newDescription = String(repeating: "d", count: 1001) }),
            BadInput(
                label: "11 actions", code: .invalidArgument, names: "10",
                call: rename { $0.newActions = .with { $0.actions = (0..<11).map { "do \($0)" } } }),
            BadInput(
                label: "an action of 201 characters", code: .invalidArgument, names: "200",
                call: rename {
                    $0.newActions = .with { $0.actions = [String(repeating: "a", count: 201)] }
                }),
            BadInput(
                label: "rename on a missing model", code: .notFound, names: "ghost",
                call: rename {
                    $0.model = .init(text: "ghost"); $0.newName = "x"
                }),
        ]
        return cases
    }
}
