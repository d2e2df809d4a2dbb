using System.Net.Http;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using Monitor.Protos.V1;

namespace Monitor.Cli.Sidecar;

/// <summary>A gRPC channel to the sidecar with the caller's credential on every call.</summary>
internal sealed class SidecarConnection : IDisposable
{
    private readonly GrpcChannel _channel;
    private readonly Metadata _headers;
    private readonly TimeSpan _timeout;
    private readonly X509Certificate2? _clientCertificate;
    private string? _tlsProblem;
    private bool _serverCertificateChecked;

    private SidecarConnection(Uri address, GrpcChannel channel, Metadata headers, TimeSpan timeout, X509Certificate2? clientCertificate)
    {
        Address = address;
        _channel = channel;
        _headers = headers;
        _timeout = timeout;
        _clientCertificate = clientCertificate;
        Admin = new Admin.AdminClient(channel);
        Reports = new Protos.V1.Reports.ReportsClient(channel);
        Alerts = new Protos.V1.Alerts.AlertsClient(channel);
        Mirror = new Protos.V1.Mirror.MirrorClient(channel);
    }

    public Uri Address { get; }

    public TimeSpan Timeout => _timeout;

    public Admin.AdminClient Admin { get; }

    public Protos.V1.Reports.ReportsClient Reports { get; }

    public Protos.V1.Alerts.AlertsClient Alerts { get; }

    public Protos.V1.Mirror.MirrorClient Mirror { get; }

    public static SidecarConnection Open(string address, string? key, FileInfo? ca, FileInfo? certificate, FileInfo? certificateKey,
        TimeSpan timeout)
    {
        Uri uri = ParseAddress(address);
        bool tls = uri.Scheme == Uri.UriSchemeHttps;
        if (!tls && (ca is not null || certificate is not null))
        {
            throw new CliException($"--ca and --certificate need an https:// sidecar address; --sidecar is {uri}", ExitCodes.Usage);
        }

        if ((certificate is null) != (certificateKey is null))
        {
            throw new CliException("--certificate and --certificate-key go together: give both, or neither", ExitCodes.Usage);
        }

        var handler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true, ConnectTimeout = timeout };
        SidecarConnection? connection = null;
        X509Certificate2? clientCertificate = null;
        if (tls)
        {
            X509Certificate2? authority = ca is null ? null : LoadCertificate("--ca", () => X509CertificateLoader.LoadCertificateFromFile(ca.FullName));
            if (authority is not null)
            {
                // The authority replaces the system's roots; the name on the certificate must still match the address.
                handler.SslOptions.RemoteCertificateValidationCallback = (_, presented, chain, errors) =>
                {
                    bool nameMatches = (errors & SslPolicyErrors.RemoteCertificateNameMismatch) == 0;
                    bool trusted = (errors & SslPolicyErrors.RemoteCertificateNotAvailable) == 0
                        && Trusts(authority, presented as X509Certificate2, chain);
                    connection!._serverCertificateChecked = true;
                    connection._tlsProblem = !trusted
                        ? $"its certificate is not signed by the authority in --ca ({authority.Subject})"
                        : !nameMatches ? $"its certificate does not name {uri.Host}" : null;
                    return trusted && nameMatches;
                };
            }

            if (certificate is not null)
            {
                clientCertificate = LoadCertificate("--certificate",
                    () => X509Certificate2.CreateFromPemFile(certificate.FullName, certificateKey!.FullName));
                handler.SslOptions.ClientCertificates = [clientCertificate];
            }
        }

        var headers = new Metadata();
        if (key is not null)
        {
            headers.Add("authorization", $"Bearer {key}");
        }

        GrpcChannel channel = GrpcChannel.ForAddress(uri, new GrpcChannelOptions
        {
            HttpHandler = handler,
            MaxReceiveMessageSize = 256 * 1024 * 1024,
            MaxSendMessageSize = 64 * 1024 * 1024,
        });
        connection = new SidecarConnection(uri, channel, headers, timeout, clientCertificate);
        return connection;
    }

    /// <summary>Options of a call that gets one answer: the credential and the deadline.</summary>
    public CallOptions Unary(CancellationToken cancellationToken) => new(_headers, DateTime.UtcNow + _timeout, cancellationToken);

    /// <summary>Options of a call that streams until it is cancelled: the credential, no deadline.</summary>
    public CallOptions Streaming(CancellationToken cancellationToken) => new(_headers, null, cancellationToken);

    /// <summary>A message for a failed call that says what went wrong and what to do, and the exit code for it.</summary>
    public CliException Explain(RpcException e)
    {
        string detail = e.Status.Detail;
        string? cause = Innermost(e.Status.DebugException);
        string mutualTlsHint = Address.Scheme == Uri.UriSchemeHttps && _clientCertificate is null
            ? " If the sidecar requires client certificates (mutual TLS), give --certificate and --certificate-key."
            : "";
        if (Find<System.Security.Authentication.AuthenticationException>(e.Status.DebugException) is { } handshake)
        {
            // Our check of the sidecar's certificate says what it found; when that passed, the sidecar refused ours (or its absence).
            string why = _tlsProblem is not null ? $"{_tlsProblem}."
                : _serverCertificateChecked ? $"{handshake.Message}{(mutualTlsHint.Length > 0 ? mutualTlsHint : " Is the client certificate signed by an authority the sidecar trusts?")}"
                : $"{handshake.Message} --ca must name the authority that signed the sidecar's certificate.";
            return new CliException($"the TLS handshake with the sidecar at {Address} failed: {why}", ExitCodes.Unreachable);
        }

        return e.StatusCode switch
        {
            StatusCode.Unavailable when e.Status.DebugException is not null => new CliException(
                $"cannot reach the sidecar at {Address}: {cause}. Is it running? Point at it with --sidecar or ${ConnectionOptions.AddressVariable}." +
                mutualTlsHint,
                ExitCodes.Unreachable),
            StatusCode.Unavailable => new CliException($"the sidecar at {Address} is unavailable: {detail}", ExitCodes.Unreachable),
            StatusCode.DeadlineExceeded => new CliException(
                $"the sidecar at {Address} did not answer within {_timeout.TotalSeconds:0.#} s (--timeout)", ExitCodes.Unreachable),
            StatusCode.Unauthenticated => new CliException(
                $"the sidecar at {Address} refused the credential: {detail}. Give an API key with --key-file, --key or ${ConnectionOptions.KeyVariable}."),
            StatusCode.PermissionDenied => new CliException($"the sidecar at {Address} refused: {detail}"),
            StatusCode.Internal or StatusCode.Unknown when cause is not null => new CliException(
                $"the sidecar at {Address} did not answer as a gRPC server ({cause}). Is this its gRPC port (50051 by default), " +
                "not its HTTP port?" + mutualTlsHint, ExitCodes.Unreachable),
            StatusCode.Cancelled => new CliException("cancelled"),
            _ => new CliException(detail.Length > 0 ? detail : $"the sidecar answered {e.StatusCode}"),
        };
    }

    public void Dispose()
    {
        _channel.Dispose();
        _clientCertificate?.Dispose();
    }

    private static Uri ParseAddress(string address)
    {
        string text = address.Contains("://", StringComparison.Ordinal) ? address : $"http://{address}";
        if (!Uri.TryCreate(text, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || uri.Host.Length == 0)
        {
            throw new CliException($"--sidecar: '{address}' is not a sidecar address such as {ConnectionOptions.DefaultAddress} " +
                "or https://monitor.example:50051", ExitCodes.Usage);
        }

        return uri;
    }

    private static X509Certificate2 LoadCertificate(string option, Func<X509Certificate2> load)
    {
        try
        {
            return load();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new CliException($"{option}: {e.Message}");
        }
    }

    /// <summary>Whether <paramref name="presented"/> chains to <paramref name="authority"/>, through the intermediates the server sent.</summary>
    private static bool Trusts(X509Certificate2 authority, X509Certificate2? presented, X509Chain? sent)
    {
        if (presented is null)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (sent is not null)
        {
            foreach (X509ChainElement element in sent.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        return chain.Build(presented);
    }

    private static T? Find<T>(Exception? e) where T : Exception
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is T found)
            {
                return found;
            }
        }

        return null;
    }

    private static string? Innermost(Exception? e)
    {
        if (e is null)
        {
            return null;
        }

        while (e.InnerException is not null && e is not SocketException)
        {
            e = e.InnerException;
        }

        return e.Message;
    }
}
