import ArgumentParser
import Foundation
import GRPCCore
import SegmentationAPI

struct Jobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, show, watch and cancel training jobs.",
        subcommands: [List.self, Show.self, Watch.self, Cancel.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List recent jobs, newest first.")
        @Option(help: "Only jobs of this model.") var model: String?
        @Option(
            help:
                "How many, newest first (default 50, at most 1000 per page; more are fetched page by page)."
        ) var limit: Int = 50
        @OptionGroup var server: ServerOptions

        func run() async throws {
            try await server.call { services, format in
                guard limit >= 1 else { throw CLIError.usage("--limit must be at least 1") }
                var response = Segmentation_V1_ListJobsResponse()
                var token = ""
                repeat {
                    let page = try await services.training.listJobs(
                        .with {
                            $0.pageSize = Int32(min(limit - response.jobs.count, 1000))
                            $0.modelName = model ?? ""
                            $0.pageToken = token
                        })
                    response.jobs += page.jobs
                    response.unreadable += page.unreadable
                    token = page.nextPageToken
                } while !token.isEmpty && response.jobs.count < limit
                let jobs = response.jobs
                try Output.emit(
                    format, header: ModelPrinter.jobHeader,
                    rows: jobs.map { ModelPrinter.jobRow($0, format: format) }
                ) {
                    try Output.json(response)
                }
                if response.unreadable > 0 {
                    FileHandle.standardError.writeQuietly(
                        "\(response.unreadable) stored job(s) could not be read and are not listed (see the server log)\n"
                    )
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one job with the metrics of every k.")
        @Argument(help: "Job id.") var id: String
        @OptionGroup var server: ServerOptions

        func run() async throws {
            try await server.call { services, format in
                let job = try await services.training.getJob(.with { $0.jobID = id }).job
                try ModelPrinter.emit(job, format: format)
                if format == .table && !job.kMetrics.isEmpty {
                    Output.print("")
                    Output.print(ModelPrinter.kTable(job.kMetrics))
                }
            }
        }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Follow a job's progress to its end.")
        @Argument(help: "Job id.") var id: String
        @OptionGroup var server: ServerOptions

        func run() async throws {
            try await server.call { services, format in
                let job = try await JobWatcher.watch(id, services: services)
                try await JobWatcher.printOutcome(job, format: format, services: services)
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a queued or running job.")
        @Argument(help: "Job id.") var id: String
        @OptionGroup var server: ServerOptions

        func run() async throws {
            try await server.call { services, format in
                let job = try await services.training.cancelJob(.with { $0.jobID = id }).job
                try ModelPrinter.emit(job, format: format)
            }
        }
    }
}

/// Follows `WatchJob` with a live progress bar and the metrics of each k as they arrive.
enum JobWatcher {
    static func watch(_ id: String, services: Services) async throws -> Segmentation_V1_Job {
        let bar = ProgressBar("training")
        let final = try await services.training.watchJob(.with { $0.jobID = id }) { response in
            var last: Segmentation_V1_Job?
            for try await event in response.messages {
                if event.hasMetrics {
                    let m = event.metrics
                    bar.log(
                        String(
                            format:
                                "  k=%-3d silhouette %.4f  davies-bouldin %.4f  calinski-harabasz %.1f  inertia %.1f",
                            m.k, m.silhouette, m.daviesBouldin, m.calinskiHarabasz, m.inertia))
                } else if event.logLine.hasPrefix("chose k=") || event.logLine.hasPrefix("warning:")
                {
                    bar.log("  " + event.logLine)
                }
                bar.update(
                    event.fraction,
                    "\(event.stage) \(event.currentK > 0 ? "k=\(event.currentK)" : "")")
                if event.hasFinalJob { last = event.finalJob }
            }
            return last
        }
        guard let final else {
            throw CLIError.failed("the job's progress stream ended before the job finished")
        }
        // A failure's reason is the error line the command ends with; it is not printed twice.
        bar.finish(
            "job \(id) \(ModelPrinter.stateName(final.state))"
                + (final.modelVersion > 0
                    ? ": registered \(final.spec.modelName)@\(final.modelVersion)" : ""))
        return final
    }

    /// Prints the trained model's segments, or fails with exit code 7.
    static func printOutcome(
        _ job: Segmentation_V1_Job, format: OutputFormat, services: Services
    ) async throws {
        guard job.state == .succeeded else {
            throw CLIError.jobFailed(
                "job \(job.id) \(ModelPrinter.stateName(job.state)): \(job.error)")
        }
        let model = try await services.models.getModel(
            .with { $0.model = .init(name: job.spec.modelName, version: Int(job.modelVersion)) },
            options: largeResponses
        ).model
        try ModelPrinter.show(model, format: format, kTable: false)
    }
}
