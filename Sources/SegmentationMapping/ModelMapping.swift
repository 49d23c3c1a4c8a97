import Foundation
import SegmentationEngine
import SegmentationMessages
import SwiftProtobuf

// A fitted model as the API's ModelDetail: its version, k table, segments, facts and charts.

extension SegmentationModel {
    public func detail(
        version: Segmentation_V1_VersionSummary, includeSample: Bool
    ) -> Segmentation_V1_ModelDetail {
        .with { detail in
            detail.version = version
            detail.kind = kind.proto
            detail.features = pipeline.features
            detail.log1P = pipeline.log1p
            detail.scaling = pipeline.scaling.proto
            detail.algorithm = Segmentation_V1_Algorithm(algorithm.method)
            detail.algorithmParameters = algorithm.parameters
            if let comparison = algorithm.comparison {
                detail.algorithmComparison = .with {
                    $0.rule = comparison.rule
                    $0.candidates = comparison.candidates.map { candidate in
                        .with {
                            $0.algorithm = Segmentation_V1_Algorithm(candidate.method)
                            $0.chosenK = Int32(candidate.chosenK)
                            $0.silhouette = candidate.silhouette
                            $0.daviesBouldin = candidate.daviesBouldin
                            $0.calinskiHarabasz = candidate.calinskiHarabasz
                            $0.seconds = candidate.seconds
                            $0.chosen = candidate.chosen
                            $0.note = candidate.note ?? ""
                            if let bic = candidate.bic { $0.bic = bic }
                        }
                    }
                }
            }
            detail.selection = kSelection.method.proto
            detail.chosenK = Int32(kSelection.chosenK)
            detail.elbowK = Int32(kSelection.elbowK ?? 0)
            detail.kTable = kSelection.candidates.map(\.proto)
            detail.metrics = metrics.proto
            detail.silhouetteSampleSize = Int32(kSelection.silhouetteSampleSize ?? 0)
            detail.selectionReason = kSelection.reason ?? ""
            detail.runnerUpKs = (kSelection.runnerUps ?? []).map(Int32.init)
            detail.selectionWarnings = kSelection.warnings ?? []
            if let customerValue { detail.customerValue = customerValue.proto }
            if let lineage { detail.lineage = lineage.proto }
            if let stability {
                detail.stability = .with {
                    $0.seedRuns = Int32(stability.seedRuns);
                    $0.bootstrapRuns = Int32(stability.bootstrapRuns)
                    $0.failedRuns = Int32(stability.failedRuns)
                    $0.meanAri = stability.meanARI; $0.minimumAri = stability.minimumARI
                    $0.segmentJaccard = stability.segmentJaccard
                }
            }
            detail.dataReport = dataReport.proto
            detail.segments = segments.map { segment in
                segment.proto(centroid: Array(centroids.row(segment.id)))
            }
            detail.annotations = annotations.map { note in
                .with {
                    $0.kind = note.kind
                    $0.segmentID = Int32(note.segmentID ?? -1)
                    $0.oldValue = note.oldValue
                    $0.newValue = note.newValue
                    $0.author = note.author ?? ""
                    $0.at = Google_Protobuf_Timestamp(note.at)
                }
            }
            detail.spec = TrainingSpecs.spec(
                training.configuration, modelName: version.name, datasetID: version.datasetID)
            detail.trainingSeconds = training.durationSeconds
            detail.formatVersion = Int32(formatVersion)
            detail.engineVersion = training.engineVersion
            detail.expectedColumns = expectedColumns
            detail.inputColumns = .with { columns in
                if let roles = transactionColumns {
                    columns.roles = ["customer": roles.customer, "time": roles.time]
                    for (role, column) in [
                        ("invoice", roles.invoice), ("quantity", roles.quantity),
                        ("price", roles.unitPrice),
                        ("amount", roles.amount), ("country", roles.country),
                        ("product", roles.product), ("product_name", roles.productName),
                    ] {
                        if let column { columns.roles[role] = column }
                    }
                }
                columns.idColumn = customerEncoder?.idColumn ?? ""
            }
            if includeSample, let sample {
                detail.sample = .with {
                    $0.customerIds = sample.customerIDs
                    $0.dimensions = Int32(sample.points.columns)
                    $0.points = sample.points.values
                    $0.labels = sample.labels
                    $0.silhouettes = sample.silhouettes
                    if let charts { $0.pcaXy = charts.pca.project(sample.points).values }
                    $0.raw = sample.raw?.values ?? []
                }
            }
            if let charts { detail.charts = charts.proto(segmentIDs: segments.map(\.id)) }
        }
    }
}

extension KCandidate {
    public var proto: Segmentation_V1_KMetrics {
        .with {
            $0.k = Int32(k)
            $0.inertia = inertia
            $0.silhouette = silhouette
            $0.daviesBouldin = daviesBouldin
            $0.calinskiHarabasz = calinskiHarabasz
            $0.iterations = Int32(iterations)
            $0.smallestShare = smallestShare ?? 0
            if let bic { $0.bic = bic }
            if let aic { $0.aic = aic }
            if let meanLogLikelihood { $0.meanLogLikelihood = meanLogLikelihood }
        }
    }
}

extension DataReport {
    public var proto: Segmentation_V1_DataReport {
        .with {
            $0.kind = kind.proto
            $0.sources = sources
            $0.rowsIn = Int64(rowsIn)
            $0.customersIn = Int64(customersIn)
            $0.steps = steps.map { step in
                .with {
                    $0.name = step.name.rawValue; $0.removed = Int64(step.removed);
                    $0.remaining = Int64(step.remaining)
                    $0.rule = step.rule ?? ""
                }
            }
            $0.rowsOut = Int64(rowsOut)
            $0.customersOut = Int64(customersOut)
            $0.problems = problems.map { problem in
                .with {
                    $0.source = problem.source; $0.line = Int64(problem.line);
                    $0.reason = problem.reason
                }
            }
            $0.firstDate = firstDate ?? ""
            $0.lastDate = lastDate ?? ""
            $0.snapshotDate = snapshotDate ?? ""
            $0.imputed = imputed.map { column in
                .with {
                    $0.column = column.column; $0.count = Int64(column.count);
                    $0.median = column.median
                }
            }
            $0.ignoredColumns = ignoredColumns
            $0.unusedColumns = unusedColumns ?? []
            $0.identifierColumns = identifierColumns ?? []
            $0.sensitiveColumns = sensitiveColumns ?? []
            if let cancelledAmount {
                $0.cancelledAmount = cancelledAmount; $0.cancellationsNetted = true
            }
            if let customersWithoutNetSpend {
                $0.customersWithoutNetSpend = Int64(customersWithoutNetSpend)
            }
        }
    }
}

extension ModelCharts {
    public func proto(segmentIDs: [Int]) -> Segmentation_V1_ModelCharts {
        .with { charts in
            charts.pcaComponents = pca.components.values
            charts.pcaExplainedVariance = pca.explainedVarianceRatio
            charts.pcaMean = pca.mean
            charts.boxes = zip(segmentIDs, boxes).map { id, features in
                .with { segment in
                    segment.segmentID = Int32(id)
                    segment.features = features.map { box in
                        .with {
                            $0.feature = box.feature
                            ($0.minimum, $0.lowerWhisker, $0.q1, $0.median) = (
                                box.minimum, box.lowerWhisker, box.q1, box.median
                            )
                            ($0.q3, $0.upperWhisker, $0.maximum, $0.outliers) = (
                                box.q3, box.upperWhisker, box.maximum, Int64(box.outliers)
                            )
                        }
                    }
                }
            }
            if let grid = rfmGrid {
                charts.rfmGrid = .with {
                    $0.counts = grid.counts.flatMap { $0.map(Int64.init) }
                    $0.cellSegments = (1...5).flatMap { r in
                        (1...5).map { f in RFMSegment.segment(r: r, f: f).rawValue }
                    }
                }
            }
            if let mix = countries {
                charts.countryMix = .with {
                    $0.countries = mix.countries
                    $0.counts = mix.counts.flatMap { $0.map(Int64.init) }
                }
            }
            if let tree = dendrogram {
                charts.dendrogram = .with {
                    $0.leafSizes = tree.leafSizes.map(Int32.init)
                    $0.merges = tree.merges.map { merge in
                        .with {
                            ($0.left, $0.right, $0.height, $0.size) = (
                                Int32(merge.left), Int32(merge.right), merge.height,
                                Int32(merge.size)
                            )
                        }
                    }
                }
            }
        }
    }
}

extension Segment {
    public func proto(centroid: [Double]) -> Segmentation_V1_Segment {
        .with {
            $0.id = Int32(id)
            $0.stableID = Int32(stableIDOrDefault)
            $0.name = name
            $0.generatedName = generatedName
            $0.description_p = description
            $0.actions = actions
            $0.size = Int64(profile.size)
            $0.customerShare = profile.customerShare
            if let share = profile.revenueShare { $0.revenueShare = share }
            $0.features = profile.features.map { summary in
                .with {
                    $0.feature = summary.feature; $0.mean = summary.mean;
                    $0.median = summary.median; $0.zScore = summary.zScore
                    if let mean = summary.populationMean { $0.populationMean = mean }
                    if let median = summary.populationMedian { $0.populationMedian = median }
                }
            }
            if let mode = profile.modeQuantity { $0.modeQuantity = mode }
            if let facts = profile.facts { $0.facts = facts.proto }
            if let products = profile.products { $0.products = products.proto }
            $0.unsteadyColumns = (profile.unsteadyColumns ?? []).map { claim in
                .with {
                    $0.word = claim.word; $0.refitsHolding = Int32(claim.refitsHolding);
                    $0.refits = Int32(claim.refits)
                }
            }
            $0.topCountries = profile.topCountries.map { country in
                .with {
                    $0.value = country.country; $0.share = country.share
                }
            }
            $0.rfmMix = profile.rfmMix.map { mix in
                .with {
                    $0.value = mix.segment.rawValue; $0.share = mix.share
                }
            }
            $0.centroid = centroid
            if let spread = distances {
                $0.distances = .with {
                    $0.median = spread.median; $0.p95 = spread.p95; $0.p99 = spread.p99;
                    $0.max = spread.max
                }
            }
            $0.composition = (profile.composition ?? []).map { attribute in
                .with {
                    $0.attribute = attribute.attribute
                    $0.shares = attribute.shares.map { share in
                        .with {
                            $0.value = share.value; $0.share = share.share
                        }
                    }
                    $0.populationShares = attribute.populationShares.map { share in
                        .with {
                            $0.value = share.value; $0.share = share.share
                        }
                    }
                }
            }
        }
    }
}

extension SegmentFacts {
    public var proto: Segmentation_V1_SegmentFacts {
        .with {
            $0.lapseDays = Int32(lapseDays); $0.lapseBasis = lapseBasis.rawValue
            ($0.lapsedShare, $0.populationLapsedShare) = (lapsedShare, populationLapsedShare)
            ($0.oneTimeShare, $0.populationOneTimeShare) = (oneTimeShare, populationOneTimeShare)
            ($0.medianRecency, $0.populationMedianRecency) = (
                medianRecency, populationMedianRecency
            )
            ($0.medianFrequency, $0.populationMedianFrequency) = (
                medianFrequency, populationMedianFrequency
            )
            ($0.medianSpend, $0.populationMedianSpend) = (medianSpend, populationMedianSpend)
            ($0.meanSpend, $0.populationMeanSpend) = (meanSpend, populationMeanSpend)
            ($0.medianBasket, $0.populationMedianBasket) = (medianBasket, populationMedianBasket)
            $0.revenueShare = revenueShare
            if let value { $0.value = value.proto }
            $0.unsteadyClaims = (unsteadyClaims ?? []).map { claim in
                .with {
                    $0.word = claim.word; $0.refitsHolding = Int32(claim.refitsHolding);
                    $0.refits = Int32(claim.refits)
                }
            }
        }
    }
}
