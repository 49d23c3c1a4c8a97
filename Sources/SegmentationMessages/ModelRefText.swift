// Hand-written (not generated): the text form of a model reference, for command lines and logs.

extension Segmentation_V1_ModelRef {
    /// `name` (the latest version), `name@3` (a version) or `name@alias`; `name@latest` is the
    /// latest version too. The server checks the name and alias; this only splits the text.
    public init(text: String) {
        self.init()
        let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        name = String(parts[0])
        guard parts.count == 2 else { return }
        let selector = String(parts[1])
        if let number = Int32(selector) {
            version = number
        } else if selector.lowercased() != "latest" {
            alias = selector
        }
    }

    public init(name: String, version: Int) {
        self.init()
        self.name = name
        self.version = Int32(version)
    }

    /// The text form: `name`, `name@3` or `name@alias`.
    public var text: String {
        switch selector {
        case .version(let number)?: "\(name)@\(number)"
        case .alias(let alias)?: "\(name)@\(alias)"
        case nil: name
        }
    }
}
