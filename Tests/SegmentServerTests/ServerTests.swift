import Foundation
import GRPCCore
import SegmentationAPI
import SegmentationEngine
import Testing

@testable import SegmentCLI
@testable import SegmentServer

@Suite("Server end to end over gRPC on loopback", .serialized, .timeLimit(.minutes(10)))
struct ServerTests {
    @Test(
        "Upload, train with progress, score unary and streaming, versions, aliases, delete refusal")
    func endToEnd() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 600)
        try await harness.withServer { services, server in
            let dataset = try await services.upload(path)
            #expect(dataset.id.hasPrefix("sha256:"))
            #expect(dataset.rows > 0 && dataset.files.count == 1)
            let again = try await Uploader.upload(
                [path], header: .with { $0.kind = .transactions }, services: services)
            #expect(again.alreadyExisted && again.dataset.id == dataset.id)

            // Train version 1 and watch it.
            let submitted = try await services.training.submitTrainingJob(
                .with {
                    $0.spec = .with {
                        $0.modelName = "retail"; $0.datasetID = dataset.id
                        $0.kRange = .with {
                            $0.min = 2; $0.max = 5
                        }; $0.nInit = 3
                    }
                }
            ).job
            #expect(submitted.state == .queued || submitted.state == .running)
            let (job, events) = try await services.watchEvents(submitted.id)
            #expect(job.state == .succeeded)
            #expect(job.modelVersion == 1)
            // On a loaded machine the watch can begin at any point of the job; once it has seen a k
            // fitted, every k's metrics (published after all the fits) must follow.
            if events.contains(where: { $0.logLine.hasPrefix("fitted k=") }) {
                #expect(Set(events.filter(\.hasMetrics).map(\.metrics.k)) == [2, 3, 4, 5])
            }
            #expect(events.map(\.fraction) == events.map(\.fraction).sorted())
            #expect(job.kMetrics.count == 4)

            let detail = try await services.models.getModel(
                .with { $0.model = .init(text: "retail") }
            ).model
            #expect(detail.version.version == 1)
            #expect(detail.kTable.map(\.k) == [2, 3, 4, 5])
            #expect(detail.segments.count == Int(detail.chosenK))
            #expect(Set(detail.segments.map(\.name)).count == detail.segments.count)
            #expect(detail.dataReport.rowsIn == dataset.rows)
            #expect(detail.dataReport.steps.map(\.name).contains("cancellation"))
            #expect(
                detail.expectedColumns == ["recency", "frequency", "monetary", "avg_order_value"])
            #expect(detail.segments.allSatisfy { !$0.actions.isEmpty && $0.centroid.count == 4 })

            // Score the training customers: unary feature rows, streaming, and through the engine.
            let model = try SegmentationModel(
                serialized: try await server.registry.modelBytes("retail", 1))
            var loader = TransactionLoader()
            try loader.add(path: path)
            let (table, _) = try loader.finish()
            let (features, _) = RFMFeatureBuilder.build(table, snapshotDay: model.snapshotDay)
            let values = try features.selecting(features: model.expectedColumns)
            let engine = try model.score(
                customerIDs: features.customerIDs, columns: model.expectedColumns, values: values)
            let rows = (0..<features.count).map { i in
                Segmentation_V1_FeatureRow.with {
                    $0.customerID = features.customerIDs[i]; $0.values = Array(values.row(i))
                }
            }
            let unary = try await services.scoring.score(
                .with {
                    $0.model = .init(text: "retail@1")
                    $0.features = .with {
                        $0.featureNames = model.expectedColumns; $0.rows = rows
                    }
                })
            #expect(unary.modelVersion == 1)
            #expect(unary.scores.scores.map(\.segmentID) == engine.map { Int32($0.segmentID) })
            #expect(unary.scores.scores.map(\.distance) == engine.map(\.distance))
            #expect(
                unary.scores.scores.map(\.rfmSegment)
                    == engine.map { $0.rfmSegment?.rawValue ?? "" })

            let streamed = try await services.scoring.scoreStream { writer in
                for (index, start) in stride(from: 0, to: rows.count, by: 100).enumerated() {
                    try await writer.write(
                        .with {
                            if index == 0 { $0.model = .init(text: "retail") }
                            $0.features = .with {
                                $0.featureNames = model.expectedColumns;
                                $0.rows = Array(rows[start..<min(start + 100, rows.count)])
                            }
                        })
                }
            } onResponse: { response in
                var scores: [Segmentation_V1_CustomerScore] = []
                for try await part in response.messages { scores += part.scores.scores }
                return scores
            }
            #expect(streamed == unary.scores.scores)
            let compact = try await services.scoring.score(
                .with {
                    $0.model = .init(text: "retail@1")
                    $0.omitNames = true
                    $0.features = .with {
                        $0.featureNames = model.expectedColumns; $0.rows = rows
                    }
                })
            #expect(compact.scores.scores.map(\.segmentID) == unary.scores.scores.map(\.segmentID))
            #expect(
                compact.scores.scores.map(\.runnerUpDistance)
                    == unary.scores.scores.map(\.runnerUpDistance))
            #expect(
                compact.scores.scores.allSatisfy {
                    $0.segmentName.isEmpty && $0.runnerUpName.isEmpty && $0.rfmSegment.isEmpty
                })
            // The packed matrix form: the same answers as parallel arrays, in row order, columns in any order.
            let reordered = [3, 1, 0, 2]
            let matrix = try await services.scoring.score(
                .with {
                    $0.model = .init(text: "retail@1")
                    $0.matrix = .with {
                        $0.featureNames = reordered.map { model.expectedColumns[$0] }
                        $0.customerIds = features.customerIDs
                        $0.values = (0..<features.count).flatMap { i in
                            reordered.map { values[i, $0] }
                        }
                    }
                })
            #expect(matrix.scores.scores.isEmpty)
            #expect(matrix.packed.segmentIds == unary.scores.scores.map(\.segmentID))
            #expect(matrix.packed.distances == unary.scores.scores.map(\.distance))
            #expect(matrix.packed.runnerUpIds == unary.scores.scores.map(\.runnerUpID))
            #expect(matrix.packed.runnerUpDistances == unary.scores.scores.map(\.runnerUpDistance))

            // Raw transactions through the server aggregate exactly as the engine does.
            let csvScores = try await services.scoring.score(
                .with {
                    $0.model = .init(text: "retail")
                    $0.csv = .with { $0.data = try! Data(contentsOf: URL(fileURLWithPath: path)) }
                }, options: largeResponses)
            let byCustomer = Dictionary(
                uniqueKeysWithValues: unary.scores.scores.map { ($0.customerID, $0.segmentID) })
            #expect(csvScores.scores.scores.count == unary.scores.scores.count)
            #expect(
                csvScores.scores.scores.allSatisfy { byCustomer[$0.customerID] == $0.segmentID })
            // The day recency was measured to comes back (the training data's: the same file).
            #expect(csvScores.dataReport.snapshotDate == detail.dataReport.snapshotDate)
            #expect(!csvScores.dataReport.snapshotDate.isEmpty)

            // Version 2, aliases, delete refusal.
            let second = try await services.train(dataset.id, model: "retail", ks: 3...3)
            #expect(second.modelVersion == 2)
            #expect(
                try await services.models.setAlias(
                    .with {
                        $0.model = .init(name: "retail", version: Int(1)); $0.alias = "production"
                    }
                ).previousVersion == 0)
            #expect(
                try await services.scoring.score(
                    .with {
                        $0.model = .init(text: "retail@production");
                        $0.features = .with {
                            $0.featureNames = model.expectedColumns; $0.rows = Array(rows.prefix(1))
                        }
                    }
                ).modelVersion == 1)
            #expect(
                try await services.models.setAlias(
                    .with {
                        $0.model = .init(name: "retail", version: Int(2)); $0.alias = "production"
                    }
                ).previousVersion == 1)
            #expect(
                try await services.scoring.score(
                    .with {
                        $0.model = .init(text: "retail@production");
                        $0.features = .with {
                            $0.featureNames = model.expectedColumns; $0.rows = Array(rows.prefix(1))
                        }
                    }
                ).modelVersion == 2)
            #expect(
                await statusCode {
                    _ = try await services.models.deleteVersion(
                        .with { $0.model = .init(name: "retail", version: 2) })
                } == .failedPrecondition)
            let deleted = try await services.models.deleteVersion(
                .with { $0.model = .init(name: "retail", version: 1) })
            #expect(deleted.removedAliases.isEmpty)
            #expect(
                await statusCode {
                    _ = try await services.models.getModel(
                        .with { $0.model = .init(text: "retail@1") })
                } == .notFound)
            let forced = try await services.models.deleteVersion(
                .with {
                    $0.model = .init(name: "retail", version: 2); $0.force = true
                })
            #expect(forced.removedAliases == ["production"])
            #expect(
                await statusCode {
                    _ = try await services.models.getModel(
                        .with { $0.model = .init(text: "retail@production") })
                } == .notFound)

            // Version numbers are never reused.
            let third = try await services.train(dataset.id, model: "retail", ks: 2...2)
            #expect(third.modelVersion == 3)
            let versions = try await services.models.listVersions(.with { $0.name = "retail" })
                .versions
            #expect(versions.map(\.version) == [3])
            let jobs = try await services.training.listJobs(.init()).jobs
            #expect(jobs.count == 3 && jobs.allSatisfy { $0.state == .succeeded })
        }
    }

    @Test("Every error case answers with the right status code and a message naming the problem")
    func errors() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 120)
        try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            let job = try await services.train(dataset.id, model: "m", ks: 2...3)
            #expect(job.state == .succeeded)
            let columns = ["recency", "frequency", "monetary", "avg_order_value"]
            func score(
                _ model: String, _ columns: [String], _ values: [Double]
            ) async -> RPCError.Code? {
                await statusCode {
                    _ = try await services.scoring.score(
                        .with {
                            $0.model = .init(text: model)
                            $0.features = .with {
                                $0.featureNames = columns;
                                $0.rows = [
                                    .with {
                                        $0.customerID = "c9"; $0.values = values
                                    }
                                ]
                            }
                        })
                }
            }
            // NOT_FOUND
            #expect(await score("nosuch", columns, [1, 2, 3, 4]) == .notFound)
            #expect(await score("m@7", columns, [1, 2, 3, 4]) == .notFound)
            #expect(await score("m@staging", columns, [1, 2, 3, 4]) == .notFound)
            #expect(
                await statusCode {
                    _ = try await services.training.getJob(.with { $0.jobID = "job-nope" })
                } == .notFound)
            #expect(
                await statusCode {
                    _ = try await services.datasets.getDataset(.with { $0.id = "sha256:00" })
                } == .notFound)
            #expect(
                await statusCode {
                    _ = try await services.models.listVersions(.with { $0.name = "ghost" })
                } == .notFound)
            #expect(
                await statusCode {
                    _ = try await services.models.setAlias(
                        .with {
                            $0.model = .init(name: "m", version: Int(9)); $0.alias = "x"
                        })
                } == .notFound)
            #expect(
                await statusCode {
                    _ = try await services.models.deleteAlias(
                        .with {
                            $0.name = "m"; $0.alias = "x"
                        })
                } == .notFound)
            // INVALID_ARGUMENT for bad rows, naming customer and field
            #expect(await score("m", columns, [1, 2, 3]) == .invalidArgument)
            #expect(await score("m", columns, [1, 2, .nan, 4]) == .invalidArgument)
            #expect(await score("m", columns, [1, .infinity, 3, 4]) == .invalidArgument)
            #expect(await score("m", columns + ["shoe_size"], [1, 2, 3, 4, 5]) == .invalidArgument)
            #expect(await score("bad name!", columns, [1, 2, 3, 4]) == .invalidArgument)
            do {
                _ = try await services.scoring.score(
                    .with {
                        $0.model = .init(text: "m")
                        $0.features = .with {
                            $0.featureNames = columns;
                            $0.rows = [
                                .with {
                                    $0.customerID = "c9"; $0.values = [1, 2, .nan, 4]
                                }
                            ]
                        }
                    })
                Issue.record("NaN was accepted")
            } catch let error as RPCError {
                #expect(
                    error.message.contains("c9") && error.message.contains("monetary"),
                    "\(error.message)")
            }
            // The matrix form's own shape errors, and row errors naming the customer (or "row N").
            func scoreMatrix(
                _ ids: [String], _ values: [Double], columns: [String] = columns
            ) async -> String? {
                do {
                    _ = try await services.scoring.score(
                        .with {
                            $0.model = .init(text: "m")
                            $0.matrix = .with {
                                $0.featureNames = columns; $0.customerIds = ids; $0.values = values
                            }
                        })
                    return nil
                } catch let error as RPCError {
                    return error.code == .invalidArgument
                        ? error.message : "\(error.code): \(error.message)"
                } catch {
                    return "\(error)"
                }
            }
            #expect(
                await scoreMatrix([], [1, 2, 3, 4, 5])?.contains(
                    "5 values, not a whole number of rows of 4") == true)
            #expect(
                await scoreMatrix(["a"], [1, 2, 3, 4, 5, 6, 7, 8])?.contains(
                    "1 customer_ids but 2 rows") == true)
            #expect(
                await scoreMatrix([], [], columns: [])?.contains("matrix.feature_names is empty")
                    == true)
            #expect(await scoreMatrix([], [])?.isEmpty == false)
            #expect(
                await scoreMatrix(["a", "b"], [1, 2, 3, 4, 1, 2, .nan, 4]).map {
                    $0.contains("b") && $0.contains("monetary")
                } == true)
            #expect(
                await scoreMatrix([], [1, 2, 3, 4, 1, .infinity, 3, 4]).map {
                    $0.contains("row 2") && $0.contains("frequency")
                } == true)
            #expect(
                await scoreMatrix([], [1, 2, 3, 4, 5], columns: columns + ["shoe_size"])?.contains(
                    "shoe_size") == true)
            #expect(await scoreMatrix(["a"], [1, 2, 3, 4]) == nil)
            // INVALID_ARGUMENT for bad specs
            func submit(
                _ change: (inout Segmentation_V1_TrainingSpec) -> Void
            ) async -> RPCError.Code? {
                var spec = Segmentation_V1_TrainingSpec()
                spec.modelName = "m2"
                spec.datasetID = dataset.id
                change(&spec)
                return await statusCode {
                    _ = try await services.training.submitTrainingJob(.with { $0.spec = spec })
                }
            }
            #expect(await submit { $0.k = 1 } == .invalidArgument)
            #expect(await submit { $0.k = 100_000 } == .invalidArgument)
            #expect(await submit { $0.features = ["recency", "shoe_size"] } == .invalidArgument)
            #expect(await submit { $0.modelName = "" } == .invalidArgument)
            #expect(
                await submit {
                    $0.kRange = .with {
                        $0.min = 5; $0.max = 3
                    }
                } == .invalidArgument)
            #expect(await submit { $0.snapshotDate = "someday" } == .invalidArgument)
            #expect(await submit { $0.datasetID = "sha256:missing" } == .notFound)
            // FAILED_PRECONDITION
            _ = try await services.models.setAlias(
                .with {
                    $0.model = .init(name: "m", version: Int(1)); $0.alias = "live"
                })
            #expect(
                await statusCode {
                    _ = try await services.models.deleteVersion(
                        .with { $0.model = .init(name: "m", version: 1) })
                } == .failedPrecondition)
            #expect(
                await statusCode {
                    _ = try await services.training.cancelJob(.with { $0.jobID = job.id })
                } == .failedPrecondition)
            // Uploads: no header, bad columns, unreadable data
            #expect(
                await statusCode {
                    _ = try await services.datasets.uploadDataset { writer in
                        try await writer.write(
                            .with {
                                $0.chunk = .with {
                                    $0.fileName = "a.csv"; $0.data = Data("x\n".utf8)
                                }
                            })
                    }
                } == .invalidArgument)
            #expect(
                await statusCode {
                    _ = try await services.datasets.uploadDataset { writer in
                        try await writer.write(
                            .with { $0.header = .with { $0.kind = .transactions } })
                        try await writer.write(
                            .with {
                                $0.chunk = .with {
                                    $0.fileName = "a.csv"; $0.data = Data("a,b\n1,2\n".utf8)
                                }
                            })
                    }
                } == .invalidArgument)
            #expect(
                await statusCode {
                    _ = try await services.datasets.uploadDataset { writer in
                        try await writer.write(
                            .with {
                                $0.header = .with {
                                    $0.kind = .transactions; $0.columns.roles = ["colour": "red"]
                                }
                            })
                    }
                } == .invalidArgument)
            #expect(
                await statusCode {
                    _ = try await services.datasets.uploadDataset { writer in
                        try await writer.write(
                            .with { $0.header = .with { $0.kind = .transactions } })
                        try await writer.write(
                            .with {
                                $0.chunk = .with {
                                    $0.fileName = "../evil.csv"; $0.data = Data("x".utf8)
                                }
                            })
                    }
                } == .invalidArgument)
            #expect(try await services.datasets.listDatasets(.init()).datasets.count == 1)
        }
    }
}
