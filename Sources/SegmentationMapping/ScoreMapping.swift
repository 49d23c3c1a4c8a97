import Foundation
import SegmentationEngine
import SegmentationMessages
import SwiftProtobuf

// Scores as the API's messages: one customer's, and a batch's packed columns.

extension Assignment {
    /// The whole score; value figures at `settings`' horizons (the model's when nil).
    public func proto(_ settings: ValueSettings? = nil) -> Segmentation_V1_CustomerScore {
        .with {
            $0.customerID = customerID
            $0.segmentID = Int32(segmentID)
            $0.segmentName = segmentName
            $0.distance = distance
            $0.runnerUpID = Int32(runnerUpID)
            $0.runnerUpName = runnerUpName
            $0.runnerUpDistance = runnerUpDistance
            $0.rfmSegment = rfmSegment?.rawValue ?? ""
            $0.contributions = contributions
            $0.outlier = outlier
            $0.memberships = memberships
            $0.atypical = atypical
            if let value { $0.value = value.proto(settings ?? ValueSettings()) }
            $0.recommendations = recommendations.map(\.proto)
        }
    }

    /// Ids and distances only (`ScoreRequest.omit_names`).
    public var compactProto: Segmentation_V1_CustomerScore {
        .with {
            $0.customerID = customerID
            $0.segmentID = Int32(segmentID)
            $0.distance = distance
            $0.runnerUpID = Int32(runnerUpID)
            $0.runnerUpDistance = runnerUpDistance
            $0.outlier = outlier
        }
    }
}

extension BatchScores {
    public var proto: Segmentation_V1_PackedScores {
        .with {
            $0.segmentIds = segmentIDs
            $0.distances = distances
            $0.runnerUpIds = runnerUpIDs
            $0.runnerUpDistances = runnerUpDistances
            $0.outliers = outliers
            $0.memberships = memberships
        }
    }
}
