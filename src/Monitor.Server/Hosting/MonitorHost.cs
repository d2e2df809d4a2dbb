using Grpc.HealthCheck;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Monitor.Server.Baselines;
using Monitor.Server.Ingest;
using Monitor.Server.Metrics;
using Monitor.Server.Models;
using Monitor.Server.Persistence;
using Monitor.Server.Registry;
using Monitor.Server.Reports;
using Monitor.Server.Security;
using Prometheus;

namespace Monitor.Server.Hosting;

/// <summary>Builds the sidecar: options, store, registry, gRPC services on one port, HTTP on the other.</summary>
internal static class MonitorHost
{
    /// <summary>Builds the application; throws <see cref="OptionsValidationException"/> naming every bad setting.</summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
        });
        configure?.Invoke(builder);

        // The one binding of the options: validated here, before anything starts, and shared by every service.
        MonitorOptions options = builder.Configuration.GetSection(MonitorOptions.Section).Get<MonitorOptions>() ?? new MonitorOptions();
        ValidateOptionsResult validation = new MonitorOptionsValidator().Validate(null, options);
        List<string> failures = [.. validation.Failed ? validation.Failures : [], .. ExtraEndpoints(builder.Configuration)];
        if (failures.Count > 0)
        {
            throw new OptionsValidationException(MonitorOptions.Section, typeof(MonitorOptions), failures);
        }

        var listeners = new Listeners();
        builder.WebHost.ConfigureKestrel(kestrel => listeners.Configure(kestrel, options));
        builder.Services.AddMonitor(options, listeners);

        WebApplication app = builder.Build();
        app.UseRouting();
        app.Use(Listeners.ConfineAsync);
        app.Use(app.Services.GetRequiredService<AccessControl>().InvokeAsync);
        app.Use(app.Services.GetRequiredService<CallLimiter>().InvokeAsync);

        var grpc = new ListenerRoleMetadata(ListenerRole.Grpc);
        var http = new ListenerRoleMetadata(ListenerRole.Http);
        app.MapGrpcService<AdminService>().WithMetadata(grpc);
        app.MapGrpcService<MirrorService>().WithMetadata(grpc);
        app.MapGrpcService<ReportService>().WithMetadata(grpc);
        app.MapGrpcService<Verdicts.RollbackService>().WithMetadata(grpc);
        app.MapGrpcService<Alerting.AlertService>().WithMetadata(grpc);
        app.MapGrpcHealthChecksService().WithMetadata(grpc);
        app.MapGrpcReflectionService().WithMetadata(grpc);
        IEndpointConventionBuilder metrics = app.MapMetrics("/metrics", app.Services.GetRequiredService<MonitorMetrics>().Registry).WithMetadata(http);
        if (options.Security.ProtectMetrics)
        {
            metrics.WithMetadata(new RequiresRole(Roles.Read));
        }

        app.MapHealthChecks("/healthz", new Microsoft.AspNetCore.Diagnostics.HealthChecks.HealthCheckOptions
        {
            // "Unhealthy: store: the database cannot be written since …: database or disk is full (SQLite error 13)".
            ResponseWriter = (context, report) => context.Response.WriteAsync(report.Status == HealthStatus.Healthy
                ? "Healthy"
                : $"{report.Status}: {string.Join("; ", report.Entries.Where(e => e.Value.Status != HealthStatus.Healthy).Select(e => $"{e.Key}: {e.Value.Description}"))}"),
        }).WithMetadata(http);
        object[] verdictMetadata = options.Security.OpenVerdicts ? [http] : [http, new RequiresRole(Roles.Read)];
        Verdicts.VerdictEndpoints.Map(app, verdictMetadata);
        Verdicts.FlaggerEndpoints.Map(app, verdictMetadata);
        Dashboard.DashboardEndpoints.Map(app, http, new RequiresRole(Roles.Read));
        app.MapGet("/", () => Results.Text(
            "drift monitor sidecar: gRPC (monitor.v1.Admin, Mirror, Reports, Alerts, Rollbacks) on the gRPC port; " +
            "/metrics, /healthz, /dashboard, /api/v1/verdict/{model}[/{version}] and /api/v1/flagger/rollback here\n"))
            .WithMetadata(http);
        return app;
    }

    /// <summary>
    /// Kestrel's own endpoint configuration (<c>Kestrel:Endpoints:*</c>, also from <c>Kestrel__Endpoints__*</c>) would add
    /// listeners beside the sidecar's two, outside its loopback rule for development mode and its TLS settings: refused.
    /// </summary>
    private static IEnumerable<string> ExtraEndpoints(ConfigurationManager configuration) =>
        configuration.GetSection("Kestrel:Endpoints").GetChildren().Select(endpoint =>
            $"Kestrel:Endpoints:{endpoint.Key} ({endpoint["Url"] ?? "no Url"}) is configured, but the sidecar listens only where " +
            "Monitor:Grpc and Monitor:Http say, under its credentials and TLS settings; remove it and set Monitor:Grpc:Address/Port or " +
            "Monitor:Http:Address/Port instead");

    private static IServiceCollection AddMonitor(this IServiceCollection services, MonitorOptions options, Listeners listeners)
    {
        services.AddSingleton(Options.Create(options));
        services.AddSingleton(listeners);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSqliteStorage();

        services.AddSingleton<MonitorMetrics>();
        services.AddSingleton<Credentials>();
        services.AddSingleton<AccessControl>();
        services.AddSingleton<CallLimiter>();
        services.AddSingleton<ClientRateLimiter>();
        services.AddSingleton<ModelCatalog>();
        services.AddSingleton<ModelPipelines>();
        services.AddSingleton<ModelRegistry>();
        services.AddSingleton<BaselineUploads>();
        services.AddSingleton<References.VersionReferenceUploads>();
        services.AddSingleton<References.VersionReferenceCaptures>();
        services.AddSingleton<Readiness.BaselineReadiness>();
        services.AddSingleton<DriftReports>();
        services.AddSingleton<IngestGate>();
        services.AddSingleton<Alerting.RollbackSignalHub>();
        services.AddSingleton<Alerting.AlertHub>();
        services.AddSingleton<Alerting.Incidents>();
        services.AddSingleton<IDeferredWrites>(provider => provider.GetRequiredService<Alerting.Incidents>());
        services.AddSingleton<Delivery.DeliverySinks>();
        services.AddSingleton<Delivery.DeliveryWakeup>();
        services.AddSingleton<Alerting.IDeliveryRouting>(provider => provider.GetRequiredService<Delivery.DeliverySinks>());
        services.AddSingleton<Alerting.IDeliveryWakeup>(provider => provider.GetRequiredService<Delivery.DeliveryWakeup>());
        services.AddHostedService<MonitorLifetime>(); // first: it opens the store the services below use
        services.AddHostedService<StoreRecovery>();
        services.AddSingleton<RetentionService>();
        services.AddHostedService(provider => provider.GetRequiredService<RetentionService>());
        services.AddHostedService<Delivery.OutboxDispatcher>();

        services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = options.Ingest.MaxMessageBytes;
            grpc.MaxSendMessageSize = null;
            grpc.Interceptors.Add<StoreFaultInterceptor>();
            grpc.Interceptors.Add<DomainErrorInterceptor>();
        })
            // Only Mirror (batches) and Admin (baseline chunks) take big messages; every other request is a query.
            .AddServiceOptions<ReportService>(small => small.MaxReceiveMessageSize = CallOptions.SmallMessageBytes)
            .AddServiceOptions<Verdicts.RollbackService>(small => small.MaxReceiveMessageSize = CallOptions.SmallMessageBytes)
            .AddServiceOptions<Alerting.AlertService>(small => small.MaxReceiveMessageSize = CallOptions.SmallMessageBytes)
            .AddServiceOptions<Grpc.HealthCheck.HealthServiceImpl>(small => small.MaxReceiveMessageSize = CallOptions.SmallMessageBytes)
            .AddServiceOptions<Grpc.Reflection.ReflectionServiceImpl>(small => small.MaxReceiveMessageSize = CallOptions.SmallMessageBytes);

        // Requests that are not valid protobuf get INVALID_ARGUMENT naming the message type, not UNKNOWN.
        services.RemoveAll(typeof(Grpc.AspNetCore.Server.Model.IServiceMethodProvider<>));
        services.AddSingleton(typeof(Grpc.AspNetCore.Server.Model.IServiceMethodProvider<>), typeof(StrictServiceMethodProvider<>));
        services.AddGrpcReflection();
        services.AddGrpcHealthChecks().AddCheck<StoreHealthCheck>("store");
        services.AddHealthChecks();
        return services;
    }
}

/// <summary>Opens the store and restores the registry before the ports open; flushes counters on shutdown.</summary>
internal sealed class MonitorLifetime(SqliteDatabase store, ModelRegistry registry, ModelCatalog models, Alerting.IIncidentStore incidents, MonitorMetrics metrics,
    Listeners listeners, IHostApplicationLifetime lifetime, IOptions<MonitorOptions> options, ILogger<MonitorLifetime> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.Value.Ingest.Analysis)
        {
            Log.AnalysisOff(logger);
        }

        SecurityOptions security = options.Value.Security;
        if (security.DevelopmentMode)
        {
            Log.DevelopmentMode(logger);
        }
        else
        {
            Log.Credentials(logger, security.Keys.Count, string.Join(", ", security.Keys.Select(k => $"{k.Name} ({k.Roles})")));
        }

        store.Initialize();
        if (store.VacuumDeferred is { } reason)
        {
            Log.VacuumDeferred(logger, reason);
        }

        if (!Core.Detectors.KeyHash.Adopt(store.KeyHashSecret(Core.Detectors.KeyHash.Secret)))
        {
            Log.KeySecretNotAdopted(logger, store.FilePath);
        }

        foreach (string note in store.MigrationNotes)
        {
            Log.Migrated(logger, store.FilePath, note);
        }

        registry.Load();
        Verdicts.VerdictGauges.Restore(models, incidents, metrics);
        string transport = TlsDescription.Of(security.Tls);
        string scheme = security.Tls.Enabled ? "https" : "http";
        lifetime.ApplicationStarted.Register(() => Log.Listening(logger,
            $"{listeners.Grpc?.IPEndPoint?.Address}:{listeners.GrpcPort}", transport,
            $"{scheme}://{listeners.Http?.IPEndPoint?.Address}:{listeners.HttpPort}", store.FilePath));
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken) => await registry.DisposeAsync();
}

/// <summary>Healthy while the database answers and accepts writes.</summary>
internal sealed class StoreHealthCheck(SqliteDatabase store, StoreHealth health) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (health.Fault is { } fault)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy(
                $"the database cannot be written since {fault.Since:u}: {fault.Reason}"));
        }

        try
        {
            return Task.FromResult(store.Ping() ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("database did not answer"));
        }
        catch (Exception ex)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy($"database error: {ex.Message}"));
        }
    }
}
