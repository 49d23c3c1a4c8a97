import Foundation
import SegmentationEngine

/// Trains one job's model on a thread of its own (never on the cooperative pool that serves
/// RPCs): the stored files are checked to be the uploaded ones first (their content hash is the
/// dataset's id), and the training stops soon after its stop flag is raised.
struct JobRunner: Sendable {
    let store: DatasetStore
    /// Sees every job's progress events as they happen (tests hold the work with it).
    let observer: TrainingObserver?

    /// The job's progress events, ending when training does, and its outcome.
    func train(
        _ job: JobRecord, on dataset: DatasetRecord,
        continuing predecessor: SegmentationTrainer.Predecessor?, stop: StopFlag
    ) -> (
        events: AsyncStream<TrainingEvent>,
        outcome: Task<Result<SegmentationModel, any Error>, Never>
    ) {
        let (store, observer, id) = (self.store, self.observer, job.id)
        let sources = store.paths(of: dataset).map(TrainingSource.path)
        let trainer = SegmentationTrainer(configuration: job.configuration)
        let (events, sink) = AsyncStream<TrainingEvent>.makeStream()
        let outcome = Task {
            let result = try? await OffPool.run(name: "train-\(id)") {
                () -> Result<SegmentationModel, any Error> in
                defer { sink.finish() }
                return Result {
                    try store.verify(dataset) { stop.reason != nil }
                    return try trainer.train(
                        sources, continuing: predecessor,
                        cancellation: CancellationCheck { stop.reason != nil }
                    ) { event in
                        sink.yield(event)
                        observer?(id, event)
                    }
                }
            }
            return result ?? .failure(CancellationError())
        }
        return (events, outcome)
    }
}
