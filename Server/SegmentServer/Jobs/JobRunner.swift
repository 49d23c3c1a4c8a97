import Foundation
import SegmentationEngine

/// Trains one job's model on a thread of its own (never on the cooperative pool that serves
/// RPCs): the stored files are checked to be the uploaded ones first (their content hash is the
/// dataset's id), and the training stops soon after its stop flag is raised.
struct JobRunner: Sendable {
    let store: DatasetStore
    /// Sees every job's progress events as they happen (tests hold the work with it).
    let observer: TrainingObserver?

    /// A trained model with the data it was trained on (its segments are matched to the
    /// model's latest version when it is registered).
    struct Trained: Sendable {
        var model: SegmentationModel
        var data: SegmentationTrainer.PreparedData
    }

    /// The job's progress events, ending when training does, and its outcome.
    func train(
        _ job: JobRecord, on dataset: DatasetRecord, stop: StopFlag
    ) -> (
        events: AsyncStream<TrainingEvent>,
        outcome: Task<Result<Trained, any Error>, Never>
    ) {
        let (store, observer, id) = (self.store, self.observer, job.id)
        let sources = store.paths(of: dataset).map(TrainingSource.path)
        let trainer = SegmentationTrainer(configuration: job.configuration)
        let (events, sink) = AsyncStream<TrainingEvent>.makeStream()
        let outcome = Task {
            let result = try? await OffPool.run(name: "train-\(id)") {
                () -> Result<Trained, any Error> in
                defer { sink.finish() }
                return Result {
                    try store.verify(dataset) { stop.reason != nil }
                    let (model, data) = try trainer.trainKeepingData(
                        sources, cancellation: CancellationCheck { stop.reason != nil }
                    ) { event in
                        sink.yield(event)
                        observer?(id, event)
                    }
                    return Trained(model: model, data: data)
                }
            }
            return result ?? .failure(CancellationError())
        }
        return (events, outcome)
    }
}
