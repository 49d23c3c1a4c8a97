import Foundation
import GRPCCore
import SegmentReport
import SegmentationAPI
import Testing

@testable import SegmentCLI
@testable import SegmentServer

@Suite("Mini-batch k-means and Ward end to end", .serialized, .timeLimit(.minutes(10)))
struct AlgorithmServerTests {
    @Test(
        "Each algorithm trains through the server, names its segments, reports itself, and scoring the training customers gives their exported segments",
        arguments: [Segmentation_V1_Algorithm.minibatchKmeans, .ward, .gaussianMixture])
    func trainScoreExport(algorithm: Segmentation_V1_Algorithm) async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 1200, seed: 4)
        try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            let submitted = try await services.training.submitTrainingJob(
                .with {
                    $0.spec = .with {
                        $0.modelName = "algo"
                        $0.datasetID = dataset.id
                        $0.kRange = .with {
                            $0.min = 3; $0.max = 5
                        }
                        $0.algorithm = algorithm
                    }
                }
            ).job
            let job = try await services.waitForJob(submitted.id)
            #expect(job.state == .succeeded, "\(job.error)")
            #expect(job.spec.algorithm == algorithm)
            let detail = try await services.models.getModel(
                .with { $0.model = .init(text: "algo") }
            ).model
            #expect(detail.algorithm == algorithm)
            #expect(
                (3...5).contains(detail.chosenK) && detail.segments.count == Int(detail.chosenK))
            #expect(detail.segments.allSatisfy { !$0.name.isEmpty && !$0.actions.isEmpty })
            if algorithm == .ward { #expect(detail.algorithmParameters["sampled_rows"] == "none") }
            let line =
                switch algorithm {
                case .ward: "Ward (hierarchical, every customer in the tree)"
                case .gaussianMixture:
                    "Gaussian mixture (full covariance): each customer in its most likely component"
                default: "mini-batch k-means"
                }
            #expect(ModelPrinter.algorithmLine(detail) == line)
            #expect(detail.kTable.allSatisfy { $0.hasBic == (algorithm == .gaussianMixture) })
            // The mixture's criteria agree with each other: BIC - AIC = p (ln n - 2), the same p at every k's own parameter count.
            for row in detail.kTable where algorithm == .gaussianMixture {
                #expect(row.hasAic && row.hasMeanLogLikelihood)
                #expect(
                    abs(
                        row.bic + 2 * row.meanLogLikelihood * Double(detail.dataReport.customersOut)
                            - (row.bic - row.aic)
                            / (log(Double(detail.dataReport.customersOut)) - 2)
                            * log(Double(detail.dataReport.customersOut))) < 1e-6 * abs(row.bic))
            }
            // The report's k chart adds a BIC panel for the mixture only.
            #expect(
                HTMLReport.figures(detail)["k-choice"]?.svg.contains(
                    "BIC (lower is better, for the mixture)") == (algorithm == .gaussianMixture))
            // The report names the algorithm that made the model, not k-means.
            #expect(
                HTMLReport.render(detail).contains(
                    "<th>Algorithm</th><td>\(ModelPrinter.algorithmLine(detail))"))
            // Ward's models draw the top of their tree, cut at the chosen k; the others have none.
            let figure = HTMLReport.figures(detail)["dendrogram"]
            #expect((figure != nil) == (algorithm == .ward))
            if let figure {
                #expect(detail.charts.dendrogram.leafSizes.reduce(0, +) > 1000)
                #expect(
                    figure.svg.contains("class=\"cut\"")
                        && figure.reading.contains("cuts it into the \(detail.chosenK) clusters"))
                #expect(
                    figure.svg.components(separatedBy: "<line").count - 1 >= 3
                        * detail.charts.dendrogram.merges.count)
            }

            let exported = try await services.models.exportAssignments(
                .with { $0.model = .init(text: "algo") }
            ) { response in
                var segments: [String: Int32] = [:]
                for try await part in response.messages {
                    for (id, segment) in zip(part.customerIds, part.segmentIds) {
                        segments[id] = segment
                    }
                }
                return segments
            }
            let scored = try await services.scoring.score(
                .with {
                    $0.model = .init(text: "algo")
                    $0.csv = .with { $0.data = try! Data(contentsOf: URL(fileURLWithPath: path)) }
                })
            #expect(scored.scores.scores.count == exported.count && exported.count > 1000)
            #expect(scored.scores.scores.allSatisfy { exported[$0.customerID] == $0.segmentID })
            // A mixture's scores carry every segment's membership; the segment is the most likely, the runner-up the next.
            for score in scored.scores.scores {
                if algorithm == .gaussianMixture {
                    #expect(score.memberships.count == detail.segments.count)
                    #expect(abs(score.memberships.reduce(0, +) - 1) < 1e-9)
                    let ranked = score.memberships.indices.sorted {
                        score.memberships[$0] > score.memberships[$1]
                    }
                    #expect(Int(score.segmentID) == ranked[0] && Int(score.runnerUpID) == ranked[1])
                    #expect(score.contributions.isEmpty)
                } else {
                    #expect(
                        score.memberships.isEmpty
                            && score.contributions.count == detail.features.count)
                }
            }
        }
    }
}

@Suite("Compare mode end to end", .serialized, .timeLimit(.minutes(10)))
struct CompareServerTests {
    @Test(
        "compare_algorithms through the server: the table in GetModel, the kept algorithm reported, the spec kept on the job; the CLI's --algorithm parses lists and auto"
    )
    func compareThroughServer() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 800, seed: 6)
        try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            let submitted = try await services.training.submitTrainingJob(
                .with {
                    $0.spec = .with {
                        $0.modelName = "compared"
                        $0.datasetID = dataset.id
                        $0.kRange = .with {
                            $0.min = 3; $0.max = 4
                        }
                        $0.compareAlgorithms = [.kmeans, .ward, .gaussianMixture]
                    }
                }
            ).job
            let job = try await services.waitForJob(submitted.id)
            #expect(job.state == .succeeded, "\(job.error)")
            #expect(job.spec.compareAlgorithms == [.kmeans, .ward, .gaussianMixture])
            let detail = try await services.models.getModel(
                .with { $0.model = .init(text: "compared") }
            ).model
            let candidates = detail.algorithmComparison.candidates
            #expect(candidates.map(\.algorithm) == [.kmeans, .ward, .gaussianMixture])
            // The mixture's BIC, and only the mixture's, is in the table.
            #expect(candidates.map(\.hasBic) == [false, false, true])
            #expect(AlgorithmText.comparisonHeader(detail).contains("bic"))
            #expect(candidates.filter(\.chosen).map(\.algorithm) == [detail.algorithm])
            #expect(!detail.algorithmComparison.rule.isEmpty)
            #expect(AlgorithmText.comparisonRows(detail).count == 3)
            #expect(
                AlgorithmText.comparisonRows(detail).allSatisfy {
                    $0.count == AlgorithmText.comparisonHeader(detail).count
                })
            let html = HTMLReport.render(detail)
            #expect(html.contains("Algorithms compared") && html.contains("Kept by the rule"))

            let refused = await statusCode {
                _ = try await services.training.submitTrainingJob(
                    .with {
                        $0.spec = .with {
                            $0.modelName = "x"; $0.datasetID = dataset.id;
                            $0.compareAlgorithms = [.kmeans]
                        }
                    })
            }
            #expect(refused == .invalidArgument)
            // k-means' settings without k-means, the mixture's without the mixture: refused, not ignored.
            for spec in [
                Segmentation_V1_TrainingSpec.with {
                    $0.algorithm = .ward; $0.nInit = 3
                },
                .with {
                    $0.algorithm = .gaussianMixture; $0.maxIter = 50
                },
                .with {
                    $0.algorithm = .kmeans; $0.covarianceType = .diagonal
                },
                .with {
                    $0.algorithm = .kmeans; $0.selection = .bic;
                    $0.kRange = .with {
                        $0.min = 2; $0.max = 4
                    }
                },
                .with {
                    $0.compareAlgorithms = [.kmeans, .gaussianMixture]; $0.selection = .aic
                },
            ] {
                let code = await statusCode {
                    _ = try await services.training.submitTrainingJob(
                        .with {
                            $0.spec = spec
                            $0.spec.modelName = "x"
                            $0.spec.datasetID = dataset.id
                        })
                }
                #expect(code == .invalidArgument, "\(spec)")
            }
        }
        #expect(
            AlgorithmSelection(argument: "auto")?.algorithms == [
                .kmeans, .minibatchKMeans, .ward, .gmm,
            ])
        #expect(AlgorithmSelection(argument: "kmeans,ward")?.algorithms == [.kmeans, .ward])
        for bad in ["kmeans,kmeans", "optics", "", "kmeans,"] {
            #expect(AlgorithmSelection(argument: bad) == nil, "\(bad)")
        }
    }
}

@Suite("The mixture's k by BIC end to end", .serialized, .timeLimit(.minutes(10)))
struct MixtureCriterionServerTests {
    @Test(
        "selection BIC through the server and the CLI: the lowest BIC among the usable k is kept and the reason says so; kmeans with BIC is refused by the CLI"
    )
    func bicThroughServer() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 1500, seed: 9)
        try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            let submitted = try await services.training.submitTrainingJob(
                .with {
                    $0.spec = .with {
                        $0.modelName = "bic"
                        $0.datasetID = dataset.id
                        $0.kRange = .with {
                            $0.min = 2; $0.max = 7
                        }
                        $0.algorithm = .gaussianMixture
                        $0.covarianceType = .diagonal
                        $0.selection = .bic
                    }
                }
            ).job
            let job = try await services.waitForJob(submitted.id)
            #expect(job.state == .succeeded, "\(job.error)")
            #expect(job.spec.selection == .bic)
            let detail = try await services.models.getModel(.with { $0.model = .init(text: "bic") })
                .model
            let usable = detail.kTable.filter { $0.smallestShare > 0 }
            let lowest = try #require(usable.min { $0.bic < $1.bic })
            #expect(detail.chosenK == lowest.k)
            #expect(detail.selection == .bic)
            #expect(
                detail.selectionReason.hasPrefix(
                    String(format: "bic: the lowest BIC %.1f among k=", lowest.bic)),
                "\(detail.selectionReason)")
        }
        var train = try Train.parse([
            "data.csv", "--model", "m", "--selection", "bic", "--k", "2...6",
        ])
        #expect(throws: CLIError.self) { try train.buildSpec() }
        train = try Train.parse([
            "data.csv", "--model", "m", "--selection", "aic", "--k", "2...6", "--algorithm", "gmm",
        ])
        #expect(try train.buildSpec().selection == .aic)
    }
}

@Suite("DBSCAN end to end", .serialized, .timeLimit(.minutes(10)))
struct DensityServerTests {
    @Test(
        "DBSCAN through the server: its own k, Outliers named, scoring the training customers gives their exported segments; k or another algorithm's settings refused"
    )
    func dbscanThroughServer() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 900, seed: 9)
        try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            let submitted = try await services.training.submitTrainingJob(
                .with {
                    $0.spec = .with {
                        $0.modelName = "dense"; $0.datasetID = dataset.id; $0.algorithm = .dbscan
                    }
                }
            ).job
            let job = try await services.waitForJob(submitted.id)
            #expect(job.state == .succeeded, "\(job.error)")
            let detail = try await services.models.getModel(
                .with { $0.model = .init(text: "dense") }
            ).model
            #expect(detail.algorithm == .dbscan && detail.kTable.count == 1)
            #expect(detail.selectionReason.hasPrefix("dbscan: "))
            #expect(AlgorithmText.describe(detail).hasPrefix("DBSCAN (eps "))
            let outliers = detail.segments.filter { $0.name == "Outliers" }
            #expect(
                outliers.count == (Int(detail.algorithmParameters["outliers"] ?? "0")! > 0 ? 1 : 0))
            let exported = try await services.models.exportAssignments(
                .with { $0.model = .init(text: "dense") }
            ) { response in
                var segments: [String: Int32] = [:]
                for try await part in response.messages {
                    for (id, segment) in zip(part.customerIds, part.segmentIds) {
                        segments[id] = segment
                    }
                }
                return segments
            }
            let scored = try await services.scoring.score(
                .with {
                    $0.model = .init(text: "dense")
                    $0.csv = .with { $0.data = try! Data(contentsOf: URL(fileURLWithPath: path)) }
                })
            #expect(scored.scores.scores.count == exported.count && exported.count > 800)
            #expect(scored.scores.scores.allSatisfy { exported[$0.customerID] == $0.segmentID })
            #expect(HTMLReport.render(detail).contains("<th>Algorithm</th><td>DBSCAN"))

            for spec in [
                Segmentation_V1_TrainingSpec.with {
                    $0.algorithm = .dbscan; $0.k = 4
                },
                .with {
                    $0.algorithm = .kmeans; $0.eps = 0.5
                },
                .with {
                    $0.algorithm = .dbscan; $0.minSamples = 1
                },
            ] {
                let code = await statusCode {
                    _ = try await services.training.submitTrainingJob(
                        .with {
                            $0.spec = spec
                            $0.spec.modelName = "x"
                            $0.spec.datasetID = dataset.id
                        })
                }
                #expect(code == .invalidArgument, "\(spec)")
            }
        }
    }
}
