import Foundation
import Testing

@testable import SegmentationEngine

@Suite("Gaussian mixture models")
struct MixtureModelTests {
    @Test(
        "Training a mixture at a k that leaves a segment with no customer is refused with that reason"
    )
    func emptyComponent() throws {
        // Two tight groups of identical customers: more components than distinct points cannot all win a customer.
        var rows: [String] = ["CustomerID,recency,frequency,monetary"]
        for i in 0..<60 { rows.append(i < 30 ? "c\(i),10,5,500" : "c\(i),200,1,20") }
        let csv = Data(rows.joined(separator: "\n").utf8)
        var configuration = TrainingConfiguration()
        configuration.kind = .customers
        configuration.algorithm = .gmm
        configuration.ks = [4]
        configuration.selection = .fixed
        #expect {
            try SegmentationTrainer(configuration: configuration).train([
                .bytes(name: "c.csv", data: csv)
            ])
        } throws: { error in
            "\(error)".contains("leaves") && "\(error)".contains("segment(s) with no customer")
        }
    }

    @Test(
        "In compare mode a candidate whose chosen k leaves a segment empty is passed over with its reason; when none is left, the error lists each; covariance needs the mixture"
    )
    func compareSkipsEmptySegments() throws {
        // Two distinct customers only: at k = 4 every algorithm leaves segments empty.
        var rows: [String] = ["CustomerID,recency,frequency,monetary"]
        for i in 0..<60 { rows.append(i < 30 ? "c\(i),10,5,500" : "c\(i),200,1,20") }
        var configuration = TrainingConfiguration()
        configuration.kind = .customers
        configuration.ks = [4]
        configuration.selection = .fixed
        configuration.compareAlgorithms = [.gmm, .kmeans]
        #expect {
            try SegmentationTrainer(configuration: configuration).train([
                .bytes(name: "c.csv", data: Data(rows.joined(separator: "\n").utf8))
            ])
        } throws: { error in
            let text = "\(error)"
            return text.contains("no algorithm of the comparison gave a model to keep")
                && text.contains("gmm ruled out: k=4 left")
                && text.contains("kmeans ruled out: k=4 left")
        }
        configuration.compareAlgorithms = nil
        configuration.covariance = .diagonal
        #expect(throws: InputError.self) { try configuration.validate() }
    }

    @Test(
        "A mixture model is written in format 3 (older engines refuse it), with k by BIC in format 4, others stay in format 2; all load; scores carry memberships in both forms"
    )
    func formatAndMemberships() throws {
        let csv = Data(SampleDataGenerator(customers: 400, seed: 8).generate().csv.utf8)
        var configuration = TrainingConfiguration()
        configuration.ks = [3]
        configuration.algorithm = .gmm
        let mixture = try SegmentationTrainer(configuration: configuration).train([
            .bytes(name: "s.csv", data: csv)
        ])
        configuration.algorithm = .kmeans
        let plain = try SegmentationTrainer(configuration: configuration).train([
            .bytes(name: "s.csv", data: csv)
        ])
        let reloaded = try SegmentationModel(serialized: try mixture.serialized())
        #expect(reloaded.formatVersion == 3 && reloaded.mixture == mixture.mixture)
        #expect(try SegmentationModel(serialized: try plain.serialized()).formatVersion == 2)
        configuration.algorithm = .gmm
        configuration.ks = [2, 3, 4]
        configuration.selection = .bic
        let byBIC = try SegmentationTrainer(configuration: configuration).train([
            .bytes(name: "s.csv", data: csv)
        ])
        #expect(try SegmentationModel(serialized: try byBIC.serialized()).formatVersion == 4)
        let values = Matrix(rowArrays: [[10, 3, 400, 130], [200, 1, 20, 20], [2, 20, 9000, 450]])
        let batch = try reloaded.scoreBatch(
            customerIDs: nil, columns: reloaded.expectedColumns, values: values)
        #expect(batch.memberships.count == 3 * reloaded.k)
        let single = try reloaded.score(
            customerIDs: ["a", "b", "c"], columns: reloaded.expectedColumns, values: values)
        for (i, assignment) in single.enumerated() {
            #expect(
                Array(batch.memberships[(i * reloaded.k)..<((i + 1) * reloaded.k)])
                    == assignment.memberships)
            #expect(
                assignment.memberships.indices.max {
                    assignment.memberships[$0] < assignment.memberships[$1]
                } == assignment.segmentID)
        }
        #expect(
            try plain.scoreBatch(customerIDs: nil, columns: plain.expectedColumns, values: values)
                .memberships.isEmpty)
    }
}

@Suite("DBSCAN's eps by the k-distance knee")
struct KneeEpsTests {
    @Test(
        "On three tight groups in uniform noise the knee's eps finds the three groups and calls most of the noise noise; degenerate data is refused"
    )
    func threeGroups() throws {
        var generator = SeededGenerator(seed: 4)
        var values: [Double] = []
        for i in 0..<900 {
            if i % 10 == 9 {
                values += [generator.nextUnit() * 30 - 15, generator.nextUnit() * 30 - 15]
            } else {
                let centre = [(-8.0, -8.0), (0.0, 8.0), (8.0, -4.0)][i % 3]
                values += [
                    centre.0 + generator.nextGaussian() * 0.4,
                    centre.1 + generator.nextGaussian() * 0.4,
                ]
            }
        }
        let x = Matrix(rows: 900, columns: 2, values: values)
        let eps = try DBSCAN.kneeEps(x, minSamples: 4)
        let result = try DBSCAN(eps: eps, minSamples: 4).fit(x)
        #expect(eps > 0.1 && eps < 3, "eps \(eps)")
        #expect(result.clusterCount == 3, "eps \(eps): \(result.clusterCount) clusters")
        // 90 noise points were drawn; a few land inside a group.
        #expect((60...100).contains(result.noiseCount), "eps \(eps): \(result.noiseCount) noise")
        #expect(throws: ClusteringError.self) {
            try DBSCAN.kneeEps(Matrix(rows: 10, columns: 2, repeating: 1), minSamples: 4)
        }
    }
}

@Suite("DBSCAN models")
struct DensityModelTests {
    @Test(
        "Three groups in noise: three segments and Outliers (named and described as such); scoring the training customers reproduces every segment's size; a far customer is an outlier"
    )
    func groupsAndOutliers() throws {
        var generator = SeededGenerator(seed: 12)
        var rows = ["CustomerID,spend_index,visit_index"]
        for i in 0..<600 {
            let point: (Double, Double)
            if i % 12 == 11 {
                point = (generator.nextUnit() * 40 - 20, generator.nextUnit() * 40 - 20)
            } else {
                let centre = [(-10.0, -10.0), (0.0, 10.0), (10.0, -5.0)][i % 3]
                point = (
                    centre.0 + generator.nextGaussian() * 0.8,
                    centre.1 + generator.nextGaussian() * 0.8
                )
            }
            rows.append("c\(i),\(point.0),\(point.1)")
        }
        var configuration = TrainingConfiguration()
        configuration.kind = .customers
        configuration.algorithm = .dbscan
        let model = try SegmentationTrainer(configuration: configuration).train([
            .bytes(name: "g.csv", data: Data(rows.joined(separator: "\n").utf8))
        ])
        let density = try #require(model.density)
        #expect(model.k == 4 && density.outlierSegment != nil, "k \(model.k)")
        let outliers = model.segments[density.outlierSegment!]
        #expect(outliers.name == "Outliers" && outliers.description.contains("in no dense group"))
        #expect(model.segments.filter { $0.name == "Outliers" }.count == 1)
        #expect(
            model.algorithm.parameters["eps_source"] == "k-distance knee"
                && model.algorithm.parameters["min_samples"] == "4")
        #expect(model.kSelection.reason?.hasPrefix("dbscan: 3 dense group(s)") == true)
        #expect(model.formatVersion == 3)

        let ids = (0..<600).map { "c\($0)" }
        let values = Matrix(
            rowArrays: rows.dropFirst().map {
                $0.split(separator: ",").dropFirst().map { Double($0)! }
            })
        let scored = try model.score(
            customerIDs: ids, columns: ["spend_index", "visit_index"], values: values)
        for segment in model.segments {
            #expect(
                scored.count { $0.segmentID == segment.id } == segment.profile.size,
                "\(segment.name)")
        }
        #expect(scored.allSatisfy { $0.contributions.isEmpty })
        let far = try model.score(
            customerIDs: ["far"], columns: ["spend_index", "visit_index"],
            values: Matrix(rowArrays: [[500, 500]]))[0]
        #expect(far.segmentID == density.outlierSegment && far.outlier)
        let reloaded = try SegmentationModel(serialized: try model.serialized())
        #expect(reloaded.density == model.density)
    }

    @Test(
        "The cell grid over core customers finds the same segment as comparing with every core, for customers near, between and far from the groups, in 2 to 6 dimensions; decoded models have it too"
    )
    func gridAgreesWithScan() throws {
        for d in [1, 2, 4, 6] {
            var generator = SeededGenerator(seed: UInt64(40 + d))
            let centres = (0..<4).map { _ in (0..<d).map { _ in generator.nextUnit() * 12 - 6 } }
            var rowArrays: [[Double]] = []
            for i in 0..<2500 {
                if i % 10 == 9 {
                    rowArrays.append((0..<d).map { _ in generator.nextUnit() * 20 - 10 })
                } else {
                    rowArrays.append(centres[i % 4].map { $0 + generator.nextGaussian() * 0.7 })
                }
            }
            let x = Matrix(rowArrays: rowArrays)
            let clustering = try DBSCANClustering(eps: 0.25 * Double(d), minSamples: 2 * d).fit(
                x, k: 0)
            let indexed = try #require(clustering.density)
            #expect(indexed.isIndexed, "\(d) dimensions, \(indexed.corePoints.rows) cores")
            let scan = indexed.unindexed()
            #expect(!scan.isIndexed && scan == indexed)
            // Queries: every training customer, and points spread over and beyond the data, some on cell edges.
            var queries = x.values
            for q in 0..<1500 {
                for _ in 0..<d {
                    let onEdge: Double = (generator.nextUnit() * 16 - 8).rounded() * indexed.eps
                    let anywhere: Double = generator.nextUnit() * 40 - 20
                    queries.append(q % 3 == 0 ? onEdge : anywhere)
                }
            }
            // Customers far outside the data, as scoring may be sent (any finite value).
            for far in [1e12, -1e12, 1e300, -1e300, 3e9] {
                queries += [Double](repeating: far, count: d)
            }
            let rows = queries.count / d
            var dense = 0
            queries.withUnsafeBufferPointer { q in
                indexed.corePoints.values.withUnsafeBufferPointer { cores in
                    for row in 0..<rows {
                        let a = indexed.segment(
                            of: q.baseAddress! + row * d, cores: cores.baseAddress!)
                        let b = scan.segment(
                            of: q.baseAddress! + row * d, cores: cores.baseAddress!)
                        #expect(a == b, "\(d) dimensions, row \(row)")
                        if a.dense { dense += 1 }
                    }
                }
            }
            #expect(dense > rows / 2 && dense < rows)
            let decoded = try JSONDecoder().decode(
                DensityModel.self, from: JSONEncoder().encode(indexed))
            #expect(decoded.isIndexed && decoded == indexed)
        }
    }

    @Test(
        "A core at exactly eps across a cell edge is found by the grid as by the scan; without an Outliers segment a far customer joins the nearest core's segment"
    )
    func gridEdges() throws {
        // 600 cores on a line, 10 apart, from 0.3: the first sits exactly eps from a customer at -1e-20.
        let cores = Matrix(rowArrays: (0..<600).map { [0.3 + 10 * Double($0)] })
        let labels = (0..<600).map { Int32($0 < 300 ? 0 : 1) }
        for outliers in [Int?.some(2), nil] {
            let model = DensityModel(
                eps: 0.3, minSamples: 2, corePoints: cores, coreLabels: labels,
                outlierSegment: outliers)
            #expect(model.isIndexed)
            for (query, expected) in [
                (-1e-20, (0, true)), (0.6, (0, true)), (5.3, (outliers ?? 0, false)),
                (5_995.0, (outliers ?? 1, false)), (-1e12, (outliers ?? 0, false)),
                (1e12, (outliers ?? 1, false)),
            ] {
                let found = [query].withUnsafeBufferPointer { q in
                    cores.values.withUnsafeBufferPointer {
                        model.segment(of: q.baseAddress!, cores: $0.baseAddress!)
                    }
                }
                let scanned = [query].withUnsafeBufferPointer { q in
                    cores.values.withUnsafeBufferPointer {
                        model.unindexed().segment(of: q.baseAddress!, cores: $0.baseAddress!)
                    }
                }
                #expect(
                    found == scanned && found == expected,
                    "query \(query), outliers \(String(describing: outliers)): \(found)")
            }
        }
    }
}
