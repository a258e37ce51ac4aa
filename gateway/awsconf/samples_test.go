package awsconf

// samplesDir holds the real AWS files collected for the project
// (/work/shared/aws-samples, see its SOURCES.md), seen from the package
// directory where go test runs.
const samplesDir = "../../../shared/aws-samples"
