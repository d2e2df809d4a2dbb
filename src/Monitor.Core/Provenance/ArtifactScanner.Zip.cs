using System.IO.Compression;

namespace Monitor.Core.Provenance;

// Zips: PyTorch archives (their pickles) and Keras 3 archives (config.json).
public static partial class ArtifactScanner
{
    private static ScanReport ScanZip(Stream source, ScanLimits limits, List<PickleImport> imports, List<ScanFinding> findings)
    {
        ZipArchive zip;
        try
        {
            zip = new ZipArchive(source, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (InvalidDataException e)
        {
            findings.Add(new ScanFinding(FindingSeverity.Blocking, "malformed zip: " + e.Message, null, null, 0, null));
            return Finish(ArtifactFormat.Unknown, null, imports, findings);
        }

        using (zip)
        {
            try
            {
                return ScanZipEntries(zip, limits, imports, findings);
            }
            catch (InvalidDataException e)
            {
                findings.Add(new ScanFinding(FindingSeverity.Blocking, "malformed zip: " + e.Message, null, null, null, null));
                return Finish(ArtifactFormat.Unknown, null, imports, findings);
            }
        }
    }

    // A zip is a PyTorch archive when it holds pickles, a Keras 3 archive when it holds config.json beside
    // metadata.json or model.weights.h5; anything else is not known.
    private static ScanReport ScanZipEntries(ZipArchive zip, ScanLimits limits, List<PickleImport> imports, List<ScanFinding> findings)
    {
        if (zip.Entries.Count > limits.MaxZipEntries)
        {
            findings.Add(new ScanFinding(FindingSeverity.Blocking,
                $"zip of {zip.Entries.Count} entries exceeds ScanLimits.MaxZipEntries ({limits.MaxZipEntries}); not scanned", null, "LIMIT", null, null));
            return Finish(ArtifactFormat.Unknown, null, imports, findings);
        }

        var pickles = zip.Entries.Where(e => e.FullName.EndsWith(".pkl", StringComparison.OrdinalIgnoreCase)).ToList();
        if (pickles.Count > 0)
        {
            var scanner = new PickleScanner(limits, imports, findings);
            foreach (ZipArchiveEntry e in pickles)
            {
                byte[]? bytes = ReadEntry(e, limits, findings);
                if (bytes is null || scanner.Stopped)
                {
                    continue;
                }

                scanner.ScanAll(bytes, e.FullName);
            }

            return Finish(ArtifactFormat.PyTorchZip, scanner.Protocol, imports, findings);
        }

        ZipArchiveEntry? config = zip.GetEntry("config.json");
        if (config is not null && (zip.GetEntry("metadata.json") is not null || zip.GetEntry("model.weights.h5") is not null))
        {
            byte[]? bytes = ReadEntry(config, limits, findings);
            if (bytes is not null)
            {
                KerasScanner.ScanConfig(bytes, "config.json", findings);
            }

            return Finish(ArtifactFormat.KerasZip, null, imports, findings);
        }

        findings.Add(new ScanFinding(FindingSeverity.Blocking,
            "a zip with neither pickle entries (PyTorch) nor config.json and metadata.json (Keras); not scanned", null, null, 0, null));
        return Finish(ArtifactFormat.Unknown, null, imports, findings);
    }

    private static byte[]? ReadEntry(ZipArchiveEntry e, ScanLimits limits, List<ScanFinding> findings)
    {
        if (e.Length > limits.MaxBytes)
        {
            findings.Add(new ScanFinding(FindingSeverity.Blocking,
                $"zip entry of {e.Length} bytes exceeds ScanLimits.MaxBytes ({limits.MaxBytes}); not scanned", null, "LIMIT", null, e.FullName));
            return null;
        }

        using Stream s = e.Open();
        byte[]? bytes = ReadBounded(s, limits.MaxBytes);
        if (bytes is null)
        {
            findings.Add(new ScanFinding(FindingSeverity.Blocking,
                $"zip entry exceeds ScanLimits.MaxBytes ({limits.MaxBytes}) when inflated; not scanned", null, "LIMIT", null, e.FullName));
        }

        return bytes;
    }
}
