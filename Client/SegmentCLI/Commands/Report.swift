import ArgumentParser
import Foundation
import SegmentReport
import SegmentationAPI

/// `segment report NAME[@ref] -o report.html`: the model's charts and cards as one HTML file.
struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Write a model's report: one self-contained HTML file of charts and segment cards.",
        discussion: """
            The report opens offline in any browser and prints to A4: how k was chosen, a map of the \
            segments, silhouettes, profiles (heatmap, box plots, scatter matrix, shares), a card per \
            segment with its actions, the RFM grid and, when the data has countries, the regional view.
            """)

    @Argument(help: "name, name@version or name@alias.") var reference: String
    @Option(
        name: .shortAndLong, help: "The HTML file to write (default: NAME-vVERSION-report.html).")
    var output: String?
    @Option(
        name: .customLong("server"),
        help: "host:port of the segment server (env SEGMENT_SERVER; default 127.0.0.1:50051).")
    var server: String?
    @Option(
        name: .customLong("token-file"),
        help: "File holding the bearer token (default: env SEGMENT_TOKEN).")
    var tokenFile: String?
    @Option(
        help:
            "Include live scoring's drift against the training data over this period back from now (24h, 7d ... 90d)."
    )
    var drift: DriftPeriod?
    @OptionGroup var tls: TLSOptions

    func validate() throws {
        // Elsewhere -o names a format; here it names the file, and the report is always HTML.
        if let output, output.isEmpty || OutputFormat(rawValue: output) != nil {
            throw ValidationError(
                "-o names the HTML file to write here, not a format (e.g. -o report.html)")
        }
    }

    func run() async throws {
        var server = ServerOptions()
        server.server = self.server
        server.tokenFile = tokenFile
        server.tls = tls
        let file = output
        try await reportingErrors(server: server.address) {
            let (reference, driftHours) = (reference, drift?.hours)
            let (model, sizes, driftResponse) = try await server.withServer { services in
                let model = try await services.models.getModel(
                    .with {
                        $0.model = .init(text: reference); $0.includeSample = true
                    }, options: largeResponses
                ).model
                // Optional parts: a server that cannot answer them still gets its report.
                let sizes = try? await services.models.listSegmentSizes(
                    .with { $0.name = model.version.name })
                let drift = try await driftHours.asyncMap { hours in
                    try await services.models.getDrift(
                        .with {
                            $0.model = .init(
                                name: model.version.name, version: Int(model.version.version))
                            $0.sinceHours = Int32(hours)
                        })
                }
                return (model, sizes, drift)
            }
            let html = HTMLReport.render(model, sizes: sizes, drift: driftResponse)
            let path = file ?? "\(model.version.name)-v\(model.version.version)-report.html"
            do {
                try Data(html.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw CLIError.failed("cannot write \(path): \(error.localizedDescription)")
            }
            let charts =
                HTMLReport.figures(model).count
                + (OverTimeSection.sizesFigure(model, sizes) == nil ? 0 : 1)
            Output.print(
                "wrote \(path) (\(Format.compact(Double(html.utf8.count)))B, \(charts) charts, \(model.segments.count) segments): open it in a browser"
            )
        }
    }
}

extension Optional {
    /// `map` for an async transform.
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
