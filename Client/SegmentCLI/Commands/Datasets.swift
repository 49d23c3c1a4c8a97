import ArgumentParser
import Foundation
import SegmentationAPI

struct Datasets: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List and delete uploaded datasets.", subcommands: [List.self, Delete.self])

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Delete a dataset and its files (refused while versions were trained on it, unless --force)."
        )
        @Argument(help: "Dataset id (sha256:...).") var id: String
        @Flag(
            help:
                "Delete even though model versions were trained on it (they keep serving; their export no longer works)."
        )
        var force = false
        @OptionGroup var server: ServerOptions

        func run() async throws {
            let (id, force) = (id, force)
            try await server.call { services, format in
                let response = try await services.datasets.deleteDataset(
                    .with {
                        $0.id = id; $0.force = force
                    })
                try Output.emit(
                    format, header: ["deleted", "trained_versions"],
                    rows: [[id, response.trainedVersions.map(\.text).joined(separator: " ")]]
                ) {
                    try Output.json(response)
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List datasets, newest first.")
        @OptionGroup var server: ServerOptions

        func run() async throws {
            try await server.call { services, format in
                var unreadable: Int32 = 0
                let datasets = try await Pages.all { token in
                    let page = try await services.datasets.listDatasets(
                        .with {
                            $0.pageSize = Pages.size; $0.pageToken = token
                        })
                    unreadable = max(unreadable, page.unreadable)
                    return (page.datasets, page.nextPageToken)
                }
                let response = Segmentation_V1_ListDatasetsResponse.with {
                    $0.datasets = datasets; $0.unreadable = unreadable
                }
                let rows = response.datasets.map { d in
                    [
                        d.id, d.name, d.kind == .transactions ? "transactions" : "customers",
                        String(d.files.count),
                        String(d.sizeBytes), String(d.rows), Output.timestamp(d.createdAt),
                    ]
                }
                try Output.emit(
                    format,
                    header: ["dataset", "name", "kind", "files", "bytes", "rows", "created"],
                    rows: rows
                ) {
                    try Output.json(response)
                }
            }
        }
    }
}
