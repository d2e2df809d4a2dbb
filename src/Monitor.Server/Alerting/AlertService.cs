using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Monitor.Core.Detectors;
using Proto = Monitor.Protos.V1;

namespace Monitor.Server.Alerting;

/// <summary>The gRPC alerts service: list, get and a resumable watch of alert changes.</summary>
internal sealed class AlertService(IIncidentStore store, AlertHub hub) : Proto.Alerts.AlertsBase
{
    private const int DefaultLimit = 100;
    private const int MaxLimit = 10_000;

    public override Task<Proto.ListAlertsResponse> ListAlerts(Proto.ListAlertsRequest request, ServerCallContext context)
    {
        if (request.Limit > MaxLimit)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"limit: at most {MaxLimit}, got {request.Limit}"));
        }

        Core.Alerts.AlertState? state = request.State switch
        {
            Proto.AlertState.Unspecified => null,
            Proto.AlertState.Firing => Core.Alerts.AlertState.Firing,
            Proto.AlertState.Resolved => Core.Alerts.AlertState.Resolved,
            _ => throw new RpcException(new Status(StatusCode.InvalidArgument, $"state: unknown value {(int)request.State}")),
        };
        var response = new Proto.ListAlertsResponse();
        response.Alerts.AddRange(store.LoadAlerts(request.Model, request.Version, MinSeverity(request.MinSeverity), state,
            request.Limit == 0 ? DefaultLimit : (int)request.Limit).Select(ToProto));
        return Task.FromResult(response);
    }

    public override Task<Proto.Alert> GetAlert(Proto.GetAlertRequest request, ServerCallContext context) =>
        Task.FromResult(ToProto(store.LoadAlert((long)Math.Min(request.Id, long.MaxValue))
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"alert {request.Id} does not exist"))));

    public override Task WatchAlerts(Proto.WatchAlertsRequest request, IServerStreamWriter<Proto.Alert> responseStream, ServerCallContext context)
    {
        Severity min = MinSeverity(request.MinSeverity);
        return hub.StreamAsync(a => (request.Model.Length == 0 || a.Alert.Model == request.Model) && a.Alert.Severity >= min,
            (long)Math.Min(request.AfterSequence, long.MaxValue), (after, limit) => store.LoadAlertEvents(request.Model, min, after, limit),
            ToProto, responseStream, context.CancellationToken);
    }

    private static Severity MinSeverity(Proto.AlertSeverity severity) => severity switch
    {
        Proto.AlertSeverity.Unspecified or Proto.AlertSeverity.Info => Severity.Info,
        Proto.AlertSeverity.Warning => Severity.Warning,
        Proto.AlertSeverity.Critical => Severity.Critical,
        _ => throw new RpcException(new Status(StatusCode.InvalidArgument, $"min_severity: unknown value {(int)severity}")),
    };

    public static Proto.Alert ToProto(StoredAlert stored)
    {
        Core.Alerts.Alert alert = stored.Alert;
        var proto = new Proto.Alert
        {
            Id = (ulong)stored.Id,
            Sequence = (ulong)stored.Sequence,
            Model = alert.Model,
            Version = alert.Version,
            Kind = alert.Kind,
            Severity = alert.Severity switch
            {
                Severity.Info => Proto.AlertSeverity.Info,
                Severity.Warning => Proto.AlertSeverity.Warning,
                _ => Proto.AlertSeverity.Critical,
            },
            State = alert.State == Core.Alerts.AlertState.Firing ? Proto.AlertState.Firing : Proto.AlertState.Resolved,
            DedupeKey = alert.DedupeKey,
            Episode = (uint)alert.Episode,
            FirstSeen = Timestamp.FromDateTimeOffset(alert.FirstSeen),
            LastSeen = Timestamp.FromDateTimeOffset(alert.LastSeen),
            ResolvedAt = alert.ResolvedAt is { } resolved ? Timestamp.FromDateTimeOffset(resolved) : null,
            Windows = (uint)alert.Windows,
        };
        proto.Evidence.AddRange(alert.Evidence);
        return proto;
    }
}
