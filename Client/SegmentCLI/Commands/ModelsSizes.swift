import ArgumentParser
import Foundation
import SegmentationAPI

extension Models {
    struct Sizes: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show each stable segment's size in each trained version of a model.",
            discussion:
                "A segment keeps its stable id while later versions match it (models show's lineage); a blank cell: the "
                + "segment did not exist in that version. The latest 100 trained versions. --output csv gives one row per "
                + "version and segment."
        )
        @Argument(help: "Model name.") var name: String
        @OptionGroup var server: ServerOptions

        func run() async throws {
            let name = name
            try await server.call { services, format in
                let sizes = try await services.models.listSegmentSizes(.with { $0.name = name })
                switch format {
                case .json: Output.print(try Output.json(sizes))
                case .csv:
                    let rows = sizes.versions.flatMap { version in
                        version.segments.map { s in
                            [
                                String(version.version), String(s.stableID), String(s.id), s.name,
                                String(s.customers), Output.raw(s.customerShare),
                                s.hasLifetimeValue ? Output.raw(s.lifetimeValue) : "",
                            ]
                        }
                    }
                    Output.print(
                        Output.csv(
                            [
                                "version", "stable_id", "segment_id", "segment", "customers",
                                "share", "lifetime_value",
                            ], rows))
                case .table:
                    Output.print(Self.table(sizes))
                }
            }
        }

        /// Rows: stable segments (their latest name); columns: versions; cells: customers (share).
        static func table(_ sizes: Segmentation_V1_ListSegmentSizesResponse) -> String {
            var names: [Int32: String] = [:]
            for version in sizes.versions {
                for s in version.segments { names[s.stableID] = s.name }
            }
            let header = ["stable_id", "segment"] + sizes.versions.map { "@\($0.version)" }
            let rows = names.keys.sorted().map { id -> [String] in
                [String(id), names[id]!]
                    + sizes.versions.map { version in
                        version.segments.first { $0.stableID == id }.map {
                            "\($0.customers) (\(Output.percent($0.customerShare)))"
                        } ?? ""
                    }
            }
            var text = Output.table(header, rows)
            if sizes.omittedVersions > 0 {
                text += "\n(\(sizes.omittedVersions) older trained versions left out)"
            }
            return text
        }
    }
}
