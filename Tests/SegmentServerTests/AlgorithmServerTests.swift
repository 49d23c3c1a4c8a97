import Foundation
import GRPCCore
import SegmentationAPI
import Testing
@testable import SegmentCLI
@testable import SegmentServer

@Suite("Mini-batch k-means and Ward end to end", .serialized)
struct AlgorithmServerTests {
    @Test("Each algorithm trains through the server, names its segments, reports itself, and scoring the training customers gives their exported segments",
          arguments: [Segmentation_V1_Algorithm.minibatchKmeans, .ward])
    func trainScoreExport(algorithm: Segmentation_V1_Algorithm) async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 1200, seed: 4)
        try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            let submitted = try await services.training.submitTrainingJob(.with {
                $0.spec = .with {
                    $0.modelName = "algo"
                    $0.datasetID = dataset.id
                    $0.kRange = .with { $0.min = 3; $0.max = 5 }
                    $0.algorithm = algorithm
                    $0.nInit = 2
                }
            }).job
            let job = try await services.waitForJob(submitted.id)
            #expect(job.state == .succeeded, "\(job.error)")
            #expect(job.spec.algorithm == algorithm)
            let detail = try await services.models.getModel(.with { $0.reference = "algo" }).model
            #expect(detail.algorithm == algorithm)
            #expect((3...5).contains(detail.chosenK) && detail.segments.count == Int(detail.chosenK))
            #expect(detail.segments.allSatisfy { !$0.name.isEmpty && !$0.actions.isEmpty })
            if algorithm == .ward { #expect(detail.algorithmParameters["sampled_rows"] == "none") }
            #expect(ModelPrinter.algorithmLine(detail) == (algorithm == .ward ? "Ward (hierarchical, every customer in the tree)" : "mini-batch k-means"))

            let exported = try await services.models.exportAssignments(.with { $0.reference = "algo" }) { response in
                var segments: [String: Int32] = [:]
                for try await part in response.messages {
                    for (id, segment) in zip(part.customerIds, part.segmentIds) { segments[id] = segment }
                }
                return segments
            }
            let scored = try await services.scoring.score(.with {
                $0.model = "algo"
                $0.csv = .with { $0.data = try! Data(contentsOf: URL(fileURLWithPath: path)) }
            })
            #expect(scored.scores.count == exported.count && exported.count > 1000)
            #expect(scored.scores.allSatisfy { exported[$0.customerID] == $0.segmentID })
        }
    }
}
