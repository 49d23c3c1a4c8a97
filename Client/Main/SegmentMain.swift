import SegmentCLI

@main
enum SegmentMain {
    static func main() async {
        await SegmentCommand.runMain()
    }
}
