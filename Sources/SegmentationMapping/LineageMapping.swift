import Foundation
import SegmentationEngine
import SegmentationMessages

// Segments over time as the API's messages: a version's lineage, the movement between two
// versions and their segments' match.

extension SegmentLineage {
    public var proto: Segmentation_V1_SegmentLineage {
        .with {
            $0.previousVersion = Int32(previousVersion)
            $0.unavailable = unavailable ?? ""
            if let movement { $0.movement = movement.proto }
            $0.matches = matches.map(\.proto)
            $0.carried = carried.map(\.proto)
            if let stayedShare { $0.stayedShare = stayedShare }
        }
    }
}

extension SegmentReference {
    public var proto: Segmentation_V1_SegmentRef {
        .with {
            $0.id = Int32(id); $0.stableID = Int32(stableID); $0.name = name
        }
    }

    public init(_ message: Segmentation_V1_SegmentRef) {
        self.init(id: Int(message.id), stableID: Int(message.stableID), name: message.name)
    }
}

extension SegmentMovement {
    public var proto: Segmentation_V1_SegmentMovement {
        .with {
            $0.from = from.map(\.proto)
            $0.to = to.map(\.proto)
            $0.counts = counts.map(Int64.init)
            $0.lifetimeValue = lifetimeValue ?? []
        }
    }

    /// Read back from the API (the CLI and the report draw it); nil when the counts do not fit
    /// the segments.
    public init?(_ message: Segmentation_V1_SegmentMovement) {
        guard message.counts.count == message.from.count * message.to.count,
            message.lifetimeValue.isEmpty || message.lifetimeValue.count == message.counts.count
        else { return nil }
        self.init(
            from: message.from.map(SegmentReference.init),
            to: message.to.map(SegmentReference.init),
            counts: message.counts.map(Int.init),
            lifetimeValue: message.lifetimeValue.isEmpty ? nil : message.lifetimeValue)
    }
}

extension SegmentMatch {
    public var proto: Segmentation_V1_SegmentMatch {
        .with {
            $0.kind =
                switch kind {
                case .matched: .matched
                case .new: .new
                case .retired: .retired
                }
            if let previousID { $0.previousID = Int32(previousID) }
            if let currentID { $0.currentID = Int32(currentID) }
            $0.overlap = overlap
            if let centreDistance, centreDistance.isFinite { $0.centreDistance = centreDistance }
            $0.sharedCustomers = Int64(sharedCustomers)
        }
    }
}

extension CarriedWording {
    public var proto: Segmentation_V1_CarriedWording {
        .with {
            $0.previousID = Int32(previousID)
            $0.currentID = Int32(currentID ?? -1)
            $0.fields = fields
            $0.personName = personName ?? ""
            $0.carried = carried
            $0.reason = reason ?? ""
        }
    }
}

extension VersionComparison {
    /// The API's answer to DiffModels, listing up to `customerLimit` moved customers.
    public func proto(customerLimit: Int) -> Segmentation_V1_DiffModelsResponse {
        let moved = movedCustomers
        return .with { response in
            response.movement = movement.proto
            response.matches = matches.map(\.proto)
            response.customers = Int64(customerIDs.count)
            response.moved = Int64(moved.count)
            if let lifetimeValues {
                response.movedValue = moved.reduce(0) { $0 + lifetimeValues[$1] }
                response.totalValue = lifetimeValues.reduce(0, +)
            }
            response.assignedFromEarlierData = Int64(assignedFromEarlierData)
            response.movedCustomers = moved.prefix(customerLimit).map { i in
                .with {
                    $0.customerID = customerIDs[i]
                    $0.fromID = fromIDs[i]
                    $0.toID = toIDs[i]
                    if let lifetimeValues { $0.lifetimeValue = lifetimeValues[i] }
                }
            }
            response.customersTruncated = customerLimit > 0 && moved.count > customerLimit
        }
    }
}
