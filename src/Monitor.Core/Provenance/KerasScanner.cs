using System.Text;
using System.Text.Json;

namespace Monitor.Core.Provenance;

/// <summary>Keras configs: Lambda layers and custom objects run Python code from the file or another module on load.</summary>
internal static class KerasScanner
{
    public static void ScanConfig(ReadOnlySpan<byte> json, string entry, List<ScanFinding> findings)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 256 });
            Walk(doc.RootElement, entry, findings);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException) // the latter for strings that are not UTF-8
        {
            findings.Add(new ScanFinding(FindingSeverity.Blocking, $"malformed Keras config in {entry}: {e.Message}", null, null, null, entry));
        }
    }

    /// <summary>
    /// Reads the root attribute <c>model_config</c> of a Keras 2 HDF5 file, after <see cref="Hdf5Guard"/> has checked every length
    /// PureHDF will trust on the way, through a stream that stops after <see cref="ScanLimits.MaxBytes"/> bytes.
    /// </summary>
    public static void ScanHdf5(Stream source, ScanLimits limits, List<ScanFinding> findings)
    {
        if (Hdf5Guard.Check(source, limits) is { } refused)
        {
            findings.Add(refused.Limit
                ? new ScanFinding(FindingSeverity.Blocking, "HDF5 file not read: " + refused.Message, null, "LIMIT", null, null)
                : new ScanFinding(FindingSeverity.Blocking, "malformed HDF5 file: " + refused.Message, null, null, null, null));
            return;
        }

        string? config;
        try
        {
            using var bounded = new ReadBudgetStream(source, limits.MaxBytes);
            using var file = PureHDF.H5File.Open(bounded, leaveOpen: true);
            if (!file.AttributeExists("model_config"))
            {
                findings.Add(new ScanFinding(FindingSeverity.Blocking,
                    "HDF5 file without a model_config attribute: not a Keras model the scanner can read", null, null, null, null));
                return;
            }

            config = file.Attribute("model_config").Read<string>();
        }
        catch (ReadBudgetExceededException e)
        {
            findings.Add(new ScanFinding(FindingSeverity.Blocking,
                $"HDF5 file not read: more than ScanLimits.MaxBytes ({e.Budget}) read", null, "LIMIT", null, null));
            return;
        }
        catch (Exception e) // PureHDF throws whatever a broken structure leads it to; the guard has bounded what it allocates
        {
            findings.Add(new ScanFinding(FindingSeverity.Blocking, "malformed HDF5 file: " + e.Message, null, null, null, null));
            return;
        }

        ScanConfig(Encoding.UTF8.GetBytes(config ?? ""), "model_config", findings);
    }

    // `layer` is true where Keras expects a layer: items of "layers" and "cells", values of "layer", "cell" and a
    // Bidirectional's "forward_layer" and "backward_layer".
    private static void Walk(JsonElement e, string entry, List<ScanFinding> findings, bool layer = false)
    {
        if (e.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement c in e.EnumerateArray())
            {
                Walk(c, entry, findings, layer);
            }

            return;
        }

        if (e.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        if (e.TryGetProperty("class_name", out JsonElement cls) && cls.ValueKind == JsonValueKind.String)
        {
            string className = cls.GetString()!;
            string? layerName = e.TryGetProperty("config", out JsonElement cfg) && cfg.ValueKind == JsonValueKind.Object
                && cfg.TryGetProperty("name", out JsonElement n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
            string? module = e.TryGetProperty("module", out JsonElement m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
            if (className == "Lambda")
            {
                findings.Add(new ScanFinding(FindingSeverity.Blocking,
                    $"Lambda layer '{layerName}' runs arbitrary Python code when loaded", "Lambda", null, null, entry));
                return; // its function (marshalled bytecode or source) is part of the same finding
            }

            if (module is not null && module != "builtins" && !module.StartsWith("keras", StringComparison.Ordinal))
            {
                findings.Add(new ScanFinding(FindingSeverity.Blocking,
                    $"custom object {className}{(layerName is null ? "" : $" '{layerName}'")} from module '{module}' imports and runs that module when loaded",
                    module + "." + className, null, null, entry));
            }
            else if (className == "__lambda__" || className == "function" && module is null)
            {
                findings.Add(new ScanFinding(FindingSeverity.Blocking,
                    $"serialised Python function ({className}) outside a Lambda layer runs when loaded", className, null, null, entry));
            }
            else if (e.TryGetProperty("registered_name", out JsonElement r) && r.ValueKind == JsonValueKind.String
                     && r.GetString() is { } registered && registered.IndexOf('>', StringComparison.Ordinal) is int gt and > 0
                     && !registered.StartsWith("keras", StringComparison.Ordinal))
            {
                findings.Add(new ScanFinding(FindingSeverity.Blocking,
                    $"{className}{(layerName is null ? "" : $" '{layerName}'")} is registered as '{registered}' by package '{registered[..gt]}', "
                    + "whose code runs when it is loaded", registered, null, null, entry));
            }
            else if (layer && module is null && !KerasLayers.BuiltIn.Contains(className))
            {
                findings.Add(new ScanFinding(FindingSeverity.Blocking,
                    $"custom layer {className}{(layerName is null ? "" : $" '{layerName}'")} is not one of Keras's layers: loading it runs "
                    + "the code registered under that name", className, null, null, entry));
            }
        }

        foreach (JsonProperty p in e.EnumerateObject())
        {
            if (p.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Array)
            {
                bool layerHere = p.Value.ValueKind == JsonValueKind.Array
                    ? p.Name is "layers" or "cells"
                    : p.Name is "layer" or "cell" or "forward_layer" or "backward_layer";
                Walk(p.Value, entry, findings, layerHere);
            }
            else if (p.Name is "model_config" or "config" && p.Value.ValueKind == JsonValueKind.String
                     && p.Value.GetString() is { } nested && nested.TrimStart().StartsWith('{'))
            {
                ScanConfig(Encoding.UTF8.GetBytes(nested), entry, findings); // configs sometimes nest as JSON text
            }
        }
    }
}
