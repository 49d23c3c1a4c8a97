import Foundation
import GRPCCore
import GRPCProtobuf
import SegmentationAPI
import SegmentationEngine
import Testing

@testable import SegmentCLI
@testable import SegmentServer

/// The bad Score, upload, job and dataset requests `BadInputTests.table` sends.
extension BadInputTests {
    static func scoringCases() -> [BadInput] {
        let columns = ["recency", "frequency", "monetary", "avg_order_value"]
        func score(
            _ change: @escaping @Sendable (inout Segmentation_V1_ScoreRequest) -> Void
        ) -> @Sendable (Services) async throws -> Void {
            { services in
                var request = Segmentation_V1_ScoreRequest.with { $0.model = .init(text: "m") }
                change(&request)
                _ = try await services.scoring.score(request, options: largeResponses)
            }
        }
        @Sendable func rows(
            _ values: [Double], columns: [String] = columns
        ) -> Segmentation_V1_FeatureRows {
            .with {
                $0.featureNames = columns;
                $0.rows = [
                    .with {
                        $0.customerID = "c1"; $0.values = values
                    }
                ]
            }
        }
        return [
            BadInput(
                label: "score without a model", code: .invalidArgument, names: "model",
                call: score {
                    $0.model = .init(text: ""); $0.features = rows([1, 2, 3, 4])
                }),
            BadInput(
                label: "score a missing model", code: .notFound, names: "ghost",
                call: score {
                    $0.model = .init(text: "ghost"); $0.features = rows([1, 2, 3, 4])
                }),
            BadInput(
                label: "score a missing alias", code: .notFound, names: "canary",
                call: score {
                    $0.model = .init(text: "m@canary"); $0.features = rows([1, 2, 3, 4])
                }),
            BadInput(
                label: "score with no customers", code: .invalidArgument, names: "no customers",
                call: score { _ in }),
            BadInput(
                label: "score an empty batch", code: .invalidArgument, names: "no customers",
                call: score { $0.features = .with { $0.featureNames = columns } }),
            BadInput(
                label: "score a NaN", code: .invalidArgument, names: "c1",
                call: score { $0.features = rows([1, 2, .nan, 4]) }),
            BadInput(
                label: "score an infinity", code: .invalidArgument, names: "monetary",
                call: score { $0.features = rows([1, 2, .infinity, 4]) }),
            BadInput(
                label: "score a negative recency", code: .invalidArgument, names: "recency",
                call: score { $0.features = rows([-5, 2, 3, 4]) }),
            BadInput(
                label: "score a short row", code: .invalidArgument, names: "c1",
                call: score { $0.features = rows([1, 2, 3]) }),
            BadInput(
                label: "score an unknown column", code: .invalidArgument, names: "shoe_size",
                call: score {
                    $0.features = rows([1, 2, 3, 4, 5], columns: columns + ["shoe_size"])
                }),
            BadInput(
                label: "recommend too many products", code: .invalidArgument, names: "recommend",
                call: score {
                    $0.features = rows([1, 2, 3, 4]); $0.recommend = 99
                }),
            BadInput(
                label: "recommend from feature rows", code: .invalidArgument,
                names: "recommend needs transactions",
                call: score {
                    $0.features = rows([1, 2, 3, 4]); $0.recommend = 3
                }),
            BadInput(
                label: "a ten-year-plus purchase horizon", code: .invalidArgument,
                names: "value_options.purchase_horizon_days",
                call: score {
                    $0.features = rows([1, 2, 3, 4])
                    $0.valueOptions = .with { $0.purchaseHorizonDays = 5000 }
                }),
            BadInput(
                label: "a discount rate over 100%", code: .invalidArgument,
                names: "value_options.annual_discount_rate",
                call: score {
                    $0.features = rows([1, 2, 3, 4])
                    $0.valueOptions = .with { $0.annualDiscountRate = 2 }
                }),
            BadInput(
                label: "a last purchase after the snapshot", code: .invalidArgument,
                names: "btyd_recency",
                call: score {
                    $0.features = rows(
                        [1, 2, 3, 4, 3, 300, 200],
                        columns: columns + ["btyd_frequency", "btyd_recency", "btyd_t"])
                }),
            BadInput(
                label: "value options on a matrix", code: .invalidArgument,
                names: "matrix input carries segments only",
                call: score {
                    $0.matrix = .with {
                        $0.featureNames = columns; $0.values = [1, 2, 3, 4]
                    }
                    $0.recommend = 2
                }),
            BadInput(
                label: "score without a column", code: .invalidArgument, names: "avg_order_value",
                call: score {
                    $0.features = rows([1, 2, 3], columns: Array(columns.prefix(3)))
                }),
            BadInput(
                label: "matrix without columns", code: .invalidArgument,
                names: "matrix.feature_names",
                call: score { $0.matrix = .with { $0.values = [1, 2, 3, 4] } }),
            BadInput(
                label: "matrix of a partial row", code: .invalidArgument, names: "matrix.values",
                call: score {
                    $0.matrix = .with {
                        $0.featureNames = columns; $0.values = [1, 2, 3, 4, 5]
                    }
                }),
            BadInput(
                label: "matrix with the wrong number of ids", code: .invalidArgument,
                names: "customer_ids",
                call: score {
                    $0.matrix = .with {
                        $0.featureNames = columns; $0.values = [1, 2, 3, 4];
                        $0.customerIds = ["a", "b"]
                    }
                }),
            BadInput(
                label: "CSV of binary bytes", code: .invalidArgument, names: "request",
                call: score {
                    $0.csv = .with {
                        $0.data = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919) })
                    }
                }),
            BadInput(
                label: "CSV without the customer column", code: .invalidArgument,
                names: "CustomerID",
                call: score {
                    $0.csv = .with { $0.data = Data("InvoiceNo,StockCode,Quantity\n1,2,3\n".utf8) }
                }),
            BadInput(
                label: "CSV with a bad snapshot date", code: .invalidArgument,
                names: "snapshot_date",
                call: score {
                    $0.csv = .with {
                        $0.data = Data(
                            "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n536365,A,x,1,2010-12-01 08:26,2.5,17850,UK\n"
                                .utf8)
                    }
                    $0.snapshotDate = "31/12/2011"
                }),
            BadInput(
                label: "CSV with a filter on a missing column", code: .invalidArgument,
                names: "Status",
                call: score {
                    $0.csv = .with {
                        $0.data = Data(
                            "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n536365,A,x,1,2010-12-01 08:26,2.5,17850,UK\n"
                                .utf8)
                    }
                    $0.filters = [
                        .with {
                            $0.mode = .exclude; $0.column = "Status"; $0.value = "x"
                        }
                    ]
                }),
        ]
    }

    static func uploadCases() -> [BadInput] {
        func upload(
            _ messages: [Segmentation_V1_UploadDatasetRequest]
        ) -> @Sendable (Services) async throws -> Void {
            { services in
                _ = try await services.datasets.uploadDataset(requestProducer: { writer in
                    for message in messages { try await writer.write(message) }
                })
            }
        }
        let header = Segmentation_V1_UploadDatasetRequest.with {
            $0.header = .with {
                $0.name = "bad"; $0.kind = .transactions
            }
        }
        func chunk(_ name: String, _ text: String) -> Segmentation_V1_UploadDatasetRequest {
            .with {
                $0.chunk = .with {
                    $0.fileName = name; $0.data = Data(text.utf8)
                }
            }
        }
        let good =
            "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n536365,A,x,1,2010-12-01 08:26,2.5,17850,UK\n"
        return [
            BadInput(
                label: "upload without a header", code: .invalidArgument, names: "header",
                call: upload([chunk("a.csv", good)])),
            BadInput(
                label: "upload with two headers", code: .invalidArgument, names: "one header",
                call: upload([header, header])),
            BadInput(
                label: "upload of no file", code: .invalidArgument, names: "no file",
                call: upload([header])),
            BadInput(
                label: "upload of an unknown kind", code: .invalidArgument, names: "kind",
                call: upload([
                    .with { $0.header = .with { $0.kind = .UNRECOGNIZED(9) } },
                    chunk("a.csv", good),
                ])),
            BadInput(
                label: "upload of a path", code: .invalidArgument, names: "plain name",
                call: upload([header, chunk("../../etc/passwd", good)])),
            BadInput(
                label: "upload of a hidden file", code: .invalidArgument, names: "plain name",
                call: upload([header, chunk(".hidden.csv", good)])),
            BadInput(
                label: "upload of an unnamed file", code: .invalidArgument, names: "plain name",
                call: upload([header, chunk("", good)])),
            BadInput(
                label: "upload of a file name over 255 bytes", code: .invalidArgument,
                names: "255 bytes",
                call: upload([header, chunk(String(repeating: "é", count: 200) + ".csv", good)])),
            BadInput(
                label: "upload of a file name with a NUL", code: .invalidArgument,
                names: "control characters",
                call: upload([header, chunk("a\u{0}b.csv", good)])),
            BadInput(
                label: "upload of a file name with a newline", code: .invalidArgument,
                names: "'a\\nb.csv'",
                call: upload([header, chunk("a\nb.csv", good)])),
            BadInput(
                label: "upload of a file sent twice", code: .invalidArgument, names: "twice",
                call: upload([
                    header, chunk("a.csv", good), chunk("b.csv", good), chunk("a.csv", good),
                ])),
            BadInput(
                label: "upload of an empty file", code: .invalidArgument, names: "a.csv",
                call: upload([header, chunk("a.csv", "")])),
            BadInput(
                label: "upload of only a header row", code: .invalidArgument, names: "rows",
                call: upload([
                    header,
                    chunk(
                        "a.csv",
                        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
                    ),
                ])),
            BadInput(
                label: "upload without a customer column", code: .invalidArgument,
                names: "CustomerID",
                call: upload([
                    header, chunk("a.csv", "InvoiceNo,Quantity\n1,2\n"),
                ])),
            BadInput(
                label: "upload with an unknown role", code: .invalidArgument, names: "shoe",
                call: upload([
                    .with {
                        $0.header = .with {
                            $0.kind = .transactions; $0.columns = .with { $0.roles = ["shoe": "x"] }
                        }
                    }, chunk("a.csv", good),
                ])),
            BadInput(
                label: "upload of binary bytes", code: .invalidArgument, names: "a.bin",
                call: upload([
                    header,
                    .with {
                        $0.chunk = .with {
                            $0.fileName = "a.bin";
                            $0.data = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) })
                        }
                    },
                ])),
        ]
    }

    static func jobAndDatasetCases(dataset: String) -> [BadInput] {
        [
            BadInput(
                label: "get a missing job", code: .notFound, names: "job-0",
                call: { services in
                    _ = try await services.training.getJob(.with { $0.jobID = "job-0" })
                }),
            BadInput(
                label: "watch a missing job", code: .notFound, names: "job-0",
                call: { services in
                    _ = try await services.training.watchJob(.with { $0.jobID = "job-0" }) {
                        for try await _ in $0.messages {}
                    }
                }),
            BadInput(
                label: "cancel a missing job", code: .notFound, names: "job-0",
                call: { services in
                    _ = try await services.training.cancelJob(.with { $0.jobID = "job-0" })
                }),
            BadInput(
                label: "cancel a finished job", code: .failedPrecondition, names: "finished",
                call: { services in
                    let finished = try await services.training.listJobs(.with { $0.pageSize = 1 })
                        .jobs[0]
                    _ = try await services.training.cancelJob(.with { $0.jobID = finished.id })
                }),
            BadInput(
                label: "get a missing dataset", code: .notFound, names: "sha256:feed",
                call: { services in
                    _ = try await services.datasets.getDataset(.with { $0.id = "sha256:feed" })
                }),
            BadInput(
                label: "delete a dataset with no id", code: .invalidArgument, names: "id",
                call: { services in
                    _ = try await services.datasets.deleteDataset(.init())
                }),
            BadInput(
                label: "delete a missing dataset", code: .notFound, names: "sha256:feed",
                call: { services in
                    _ = try await services.datasets.deleteDataset(.with { $0.id = "sha256:feed" })
                }),
            BadInput(
                label: "delete a dataset a version needs", code: .failedPrecondition, names: "m@1",
                call: { services in
                    _ = try await services.datasets.deleteDataset(.with { $0.id = dataset })
                }),
        ]
    }
}
