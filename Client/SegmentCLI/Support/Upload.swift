import Foundation
import GRPCCore
import SegmentationAPI
import SegmentationEngine

/// Streams files to `UploadDataset` in 1 MiB chunks with a progress bar.
enum Uploader {
    static let chunkBytes = 1 << 20

    /// Files named on the command line, folders expanded to their .csv files (sorted).
    static func files(_ paths: [String]) throws -> [String] {
        var files: [String] = []
        for path in paths {
            do { files += try CSVReader.files(at: path) } catch let error as CSVError {
                throw CLIError.invalidInput(error.description)
            }
        }
        let names = files.map { ($0 as NSString).lastPathComponent }
        if let clash = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
            throw CLIError.invalidInput(
                "two input files are named \(clash); a dataset's file names must differ")
        }
        return files
    }

    static func upload(
        _ files: [String], header: Segmentation_V1_DatasetHeader, services: Services
    ) async throws -> Segmentation_V1_UploadDatasetResponse {
        let total = try files.reduce(Int64(0)) { sum, file in
            sum
                + ((try FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?
                    .int64Value ?? 0)
        }
        let bar = ProgressBar("uploading")
        let response = try await services.datasets.uploadDataset { writer in
            try await writer.write(.with { $0.header = header })
            var sent: Int64 = 0
            for file in files {
                guard let handle = FileHandle(forReadingAtPath: file) else {
                    throw CLIError.invalidInput("cannot read \(file)")
                }
                defer { try? handle.close() }
                let name = (file as NSString).lastPathComponent
                var wroteAny = false
                while let data = try handle.read(upToCount: chunkBytes), !data.isEmpty {
                    try await writer.write(
                        .with {
                            $0.chunk = .with {
                                $0.fileName = name; $0.data = data
                            }
                        })
                    sent += Int64(data.count)
                    wroteAny = true
                    bar.update(
                        total > 0 ? Double(sent) / Double(total) : 1,
                        "\(sent >> 10) of \(total >> 10) KiB")
                }
                if !wroteAny {
                    try await writer.write(
                        .with {
                            $0.chunk = .with {
                                $0.fileName = name; $0.data = Data()
                            }
                        })
                }
            }
        }
        bar.finish(
            "uploaded \(files.count) file(s), \(total) bytes: dataset \(response.dataset.id.prefix(19))… \(response.alreadyExisted ? "(already stored)" : "")"
        )
        return response
    }
}
