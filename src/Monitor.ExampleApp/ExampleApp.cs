using System.Text.Json;
using Monitor.Client;

namespace Monitor.ExampleApp;

/// <summary>
/// A small serving app: POST /score takes a card transaction and answers the fraud probability of a logistic model
/// loaded from model.json; each inference is mirrored to the drift monitor with <see cref="IDriftMirror"/>, whose
/// digest is that of the same model.json. Configuration: DriftMirror:Enabled (true), DriftMirror:Address,
/// DriftMirror:ApiKey, DriftMirror:Model (fraud-scorer), DriftMirror:Version (v1), Model:Path (model.json beside the app).
/// </summary>
public static class ExampleApp
{
    public static WebApplication Build(string[] args)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        string modelPath = Path.GetFullPath(builder.Configuration["Model:Path"] ?? Path.Combine(AppContext.BaseDirectory, "model.json"));
        LogisticModel model = LogisticModel.Load(modelPath);
        builder.Services.AddSingleton(model);
        bool mirrored = builder.Configuration.GetValue("DriftMirror:Enabled", true);
        if (mirrored)
        {
            builder.Services.AddDriftMirror(options =>
            {
                options.Address = new Uri(builder.Configuration["DriftMirror:Address"] ?? "http://127.0.0.1:50051");
                options.ApiKey = builder.Configuration["DriftMirror:ApiKey"];
                options.Model = builder.Configuration["DriftMirror:Model"] ?? "fraud-scorer";
                options.Version = builder.Configuration["DriftMirror:Version"] ?? "v1";
                options.ArtifactPath = modelPath; // the file loaded above: the digest sent is the served model's
                options.NumericFeatures = 6;
                options.CategoricalFeatures = 3;
                options.TextFields = 1;
                options.OutputWidth = 2;
            });
        }

        WebApplication app = builder.Build();
        IDriftMirror? mirror = mirrored ? app.Services.GetRequiredService<IDriftMirror>() : null;
        app.MapPost("/score", (Transaction t) =>
        {
            double fraud = model.Score(t);
            float[] features = [(float)t.Amount, (float)t.AccountAgeDays, (float)t.TxPerHour, (float)t.DistanceKm, t.HourOfDay, (float)t.MerchantRisk];
            mirror?.Record(features, [(float)(1 - fraud), (float)fraud], [t.MerchantCategory, t.Country, t.Channel], [t.Memo], t.RequestId);
            return Results.Ok(new Score(1 - fraud, fraud));
        });
        app.MapGet("/mirror", () => mirror is null ? Results.NotFound() : Results.Ok(mirror.Stats));
        return app;
    }
}

public sealed record Transaction(double Amount, double AccountAgeDays, double TxPerHour, double DistanceKm, int HourOfDay, double MerchantRisk,
    string? MerchantCategory, string? Country, string? Channel, string? Memo, string? RequestId);

public sealed record Score(double Legitimate, double Fraud);

/// <summary>The served model: a logistic score with coefficients from a JSON artifact.</summary>
public sealed class LogisticModel
{
    private readonly double _intercept;
    private readonly Dictionary<string, double> _weights;

    private LogisticModel(double intercept, Dictionary<string, double> weights)
    {
        _intercept = intercept;
        _weights = weights;
    }

    public static LogisticModel Load(string path)
    {
        using JsonDocument json = JsonDocument.Parse(File.ReadAllText(path));
        var weights = json.RootElement.GetProperty("weights").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble());
        return new LogisticModel(json.RootElement.GetProperty("intercept").GetDouble(), weights);
    }

    public double Score(Transaction t)
    {
        double z = _intercept
            + (_weights["log_amount"] * (Math.Log(Math.Max(t.Amount, 0.01)) - 3.5))
            + (_weights["log_account_age_years"] * Math.Log(1 + (Math.Max(t.AccountAgeDays, 0) / 365)))
            + (_weights["tx_per_hour"] * t.TxPerHour)
            + (_weights["log_distance_km"] * (Math.Log(Math.Max(t.DistanceKm, 0.01)) - 1.5))
            + (_weights["merchant_risk"] * t.MerchantRisk);
        return 1 / (1 + Math.Exp(-z));
    }
}
