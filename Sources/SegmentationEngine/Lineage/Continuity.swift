import Foundation

extension SegmentationModel {
    /// This newly trained model continuing `previous` (version `previousVersion` of the same
    /// model): its segments matched to the previous ones on `data` (this model's training data,
    /// prepared), matched segments given the previous stable ids and what a person set on them
    /// unless the facts the segment was named on changed, new segments fresh stable ids.
    /// When the versions cannot be compared, every segment is new and `lineage.unavailable`
    /// says why.
    public func continuing(
        from previous: SegmentationModel, previousVersion: Int,
        on data: SegmentationTrainer.PreparedData, cancellation: CancellationCheck = .never
    ) throws -> SegmentationModel {
        var next = max(
            previous.lineage?.nextStableID ?? 1,
            (previous.segments.map(\.stableIDOrDefault).max() ?? 0) + 1)
        var copy = self
        let comparison: VersionComparison
        do {
            comparison = try VersionComparison.compare(
                previous, self, on: data, cancellation: cancellation)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // Versions that cannot be compared (other kinds of input, features the data lacks) or
            // whose earlier one cannot score this data (a value its log transform refuses): the
            // new version is trained all the same, with every segment new and the reason kept.
            for index in copy.segments.indices {
                copy.segments[index].stableID = next
                next += 1
            }
            let reason =
                error is ComparisonError
                ? "\(error)"
                : "the previous version cannot score this version's customers: \(error)"
            copy.lineage = SegmentLineage(
                previousVersion: previousVersion, unavailable: reason, movement: nil,
                matches: [], carried: [], nextStableID: next)
            return copy
        }
        let previousByID = Dictionary(uniqueKeysWithValues: previous.segments.map { ($0.id, $0) })
        var carried: [CarriedWording] = []
        for index in copy.segments.indices {
            let id = copy.segments[index].id
            guard
                let match = comparison.matches.first(where: {
                    $0.kind == .matched && $0.currentID == id
                }),
                let old = match.previousID.flatMap({ previousByID[$0] })
            else {
                copy.segments[index].stableID = next
                next += 1
                continue
            }
            copy.segments[index].stableID = old.stableIDOrDefault
            if let wording = copy.carryWording(of: old, from: previous, to: index) {
                carried.append(wording)
            }
        }
        var movement = comparison.movement
        movement.to = copy.segments.map(SegmentReference.init)
        copy.lineage = SegmentLineage(
            previousVersion: previousVersion, unavailable: nil, movement: movement,
            matches: comparison.matches, carried: carried, nextStableID: next)
        return copy
    }

    /// Carries what a person set on `old` (a segment of `previous`) to segment `index`, when its
    /// generated name says the same as `old`'s did: a name given to "High-Value, Frequent Buyers"
    /// is not kept on a segment that now reads "Lapsed High-Value Buyers".
    private mutating func carryWording(
        of old: Segment, from previous: SegmentationModel, to index: Int
    ) -> CarriedWording? {
        let edits = previous.annotations.filter { $0.segmentID == old.id }
        let kinds = Set(edits.map(\.kind))
        var fields: [String] = []
        if old.name != old.generatedName { fields.append("name") }
        if kinds.contains("describe-segment") { fields.append("description") }
        if kinds.contains("set-actions") { fields.append("actions") }
        guard !fields.isEmpty else { return nil }
        let segment = segments[index]
        var wording = CarriedWording(
            previousID: old.id, currentID: segment.id, fields: fields,
            personName: fields.contains("name") ? old.name : nil, carried: false, reason: nil)
        guard Self.sameClaims(old.generatedName, segment.generatedName) else {
            wording.reason =
                "it was set on \(old.generatedName.quotedForMessage) and the segment now reads \(segment.generatedName.quotedForMessage)"
            return wording
        }
        if fields.contains("name"),
            let clash = segments.first(where: { $0.id != segment.id && $0.name == old.name })
        {
            wording.reason = "segment \(clash.id) is already named \(old.name.quotedForMessage)"
            return wording
        }
        // The person's edits, re-recorded on this version's segment id (with their author and
        // time), so the next training carries them again.
        for edit in edits {
            annotations.append(
                Annotation(
                    kind: edit.kind, segmentID: segment.id, oldValue: edit.oldValue,
                    newValue: edit.newValue, author: edit.author, at: edit.at))
        }
        if fields.contains("name") { segments[index].name = old.name }
        if fields.contains("description") { segments[index].description = old.description }
        if fields.contains("actions") { segments[index].actions = old.actions }
        wording.carried = true
        return wording
    }

    /// Whether two generated names make the same claims: equal once the words that only tell
    /// segments apart ("(More Recent)", a trailing number) are dropped and the parts sorted.
    static func sameClaims(_ a: String, _ b: String) -> Bool {
        claimsKey(a) == claimsKey(b)
    }

    private static func claimsKey(_ name: String) -> String {
        var text = name
        if let last = text.split(separator: " ").last, Int(last) != nil {
            text = String(text.dropLast(last.count + 1))
        }
        if text.hasSuffix(")"), let open = text.lastIndex(of: "(") {
            text = String(text[..<open]).trimmingCharacters(in: .whitespaces)
        }
        return text.components(separatedBy: ", ").sorted().joined(separator: ", ")
    }
}

extension SegmentationModel {
    /// This model imported from elsewhere (`source`, e.g. "shop@3 of segment-server 0.9.0"),
    /// joining a model whose latest version is `previous`. It was not trained on this server's
    /// data, so nothing is matched: starting a model, its segments keep their stable ids; after
    /// `previous`, they take fresh ones and the lineage says why they are not matched.
    public func imported(
        after previous: (model: SegmentationModel, version: Int)?, source: String
    ) -> SegmentationModel {
        var copy = self
        guard let previous else {
            copy.lineage = nil  // its lineage names versions of another registry
            return copy
        }
        var next = max(
            previous.model.lineage?.nextStableID ?? 1,
            (previous.model.segments.map(\.stableIDOrDefault).max() ?? 0) + 1)
        for index in copy.segments.indices {
            copy.segments[index].stableID = next
            next += 1
        }
        copy.lineage = SegmentLineage(
            previousVersion: previous.version,
            unavailable:
                "imported from \(source): it was not trained on this model's data, so its segments are not matched to @\(previous.version)",
            movement: nil, matches: [], carried: [], nextStableID: next)
        return copy
    }
}
