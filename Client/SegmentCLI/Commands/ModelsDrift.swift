import ArgumentParser
import Foundation
import SegmentationAPI

extension Models {
    struct Drift: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show how far live scoring of a version lies from its training data.",
            discussion:
                "The population stability index (PSI) per clustering feature, over the training deciles, and for the "
                + "segment shares, every server's scoring added up: below 0.1 stable, 0.1 to 0.25 moderate, above 0.25 "
                + "a shift. Scoring reaches the registry within the server's --drift-flush-seconds."
        )
        @Argument(help: "name, name@version or name@alias (default: the latest version).")
        var reference: String
        @Option(help: "The period back from now: 24h, 7d ... up to 90d.") var since = DriftPeriod(
            argument: "24h")!
        @OptionGroup var server: ServerOptions

        func run() async throws {
            let (reference, hours) = (reference, since.hours)
            try await server.call { services, format in
                let drift = try await services.models.getDrift(
                    .with {
                        $0.model = .init(text: reference); $0.sinceHours = Int32(hours)
                    })
                try DriftPrinter.print(drift, format: format)
            }
        }
    }
}

enum DriftPrinter {
    static func print(_ drift: Segmentation_V1_GetDriftResponse, format: OutputFormat) throws {
        let rows = (drift.features + (drift.hasSegments ? [drift.segments] : [])).map {
            item -> [String] in
            [
                item.name, format == .csv ? Output.raw(item.psi) : Output.number(item.psi),
                item.reading,
            ]
        }
        switch format {
        case .json: Output.print(try Output.json(drift))
        case .csv: Output.print(Output.csv(["feature", "psi", "reading"], rows))
        case .table:
            Output.print(summary(drift))
            guard drift.unavailable.isEmpty else { return }
            Output.print(Output.table(["feature", "psi", "reading"], rows))
            Output.print(
                "PSI: below 0.1 stable, 0.1 to 0.25 moderate, above 0.25 a shift (\(drift.hours.count) hour(s) with scoring)."
            )
        }
    }

    static func summary(_ drift: Segmentation_V1_GetDriftResponse) -> String {
        let version = "\(drift.modelName)@\(drift.modelVersion)"
        guard drift.unavailable.isEmpty else { return "\(version): \(drift.unavailable)." }
        return
            "\(version): \(drift.customers) customers scored in the last \(drift.sinceHours) hours (every server that counts drift; a customer scored twice counts twice); "
            + "largest PSI \(Output.number(drift.largestPsi)): \(drift.reading)."
    }

    /// `models show`'s warning when the last day's scoring has shifted (nil otherwise).
    static func warning(_ drift: Segmentation_V1_GetDriftResponse) -> String? {
        guard drift.unavailable.isEmpty, drift.largestPsi > 0.25 else { return nil }
        let items = drift.features + [drift.segments]
        let worst = items.max { $0.psi < $1.psi }!
        return
            "warning: live scoring in the last \(drift.sinceHours) hours has shifted from the training data: PSI \(Output.number(worst.psi)) on \(worst.name) "
            + "(\(drift.customers) customers); see segment models drift \(drift.modelName)@\(drift.modelVersion)"
    }
}
