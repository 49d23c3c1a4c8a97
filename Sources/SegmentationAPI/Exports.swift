// The API's messages live in their own module (SegmentationMessages: plain data, no gRPC) so that
// readers such as the report renderer need not depend on gRPC; users of the services get both.
@_exported import SegmentationMessages
