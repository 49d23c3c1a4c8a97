import ArgumentParser

/// `segment`: the command-line client of the segment server.
public struct SegmentCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "segment",
        abstract: "Train, version and score customer-segmentation models on a segment server.",
        discussion: """
            Exit codes: 0 success, 1 other failure, 3 not found, 4 invalid input, 5 server unreachable, \
            6 conflict, 7 training job failed or cancelled, 64 usage.
            """,
        subcommands: [Train.self, Jobs.self, Score.self, Models.self, Datasets.self, GenerateSample.self, Health.self])

    public init() {}
}
