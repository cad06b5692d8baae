// The server-side variant of the dealcoach Dynamics kit: a Dataverse plug-in behind the
// Custom API dealcoach_GetGuidance, for orgs whose users' browsers must not (or cannot)
// reach the sidecar. The form's web resource (WebResources/dealcoach_panel_customapi.html)
// calls the Custom API through the org's own Web API; the plug-in calls the sidecar from
// Dataverse and hands back its answer unchanged.
//
// Custom API (create it in your solution; integrations/dynamics/README.md, "Server-side variant"):
//   Unique name dealcoach_GetGuidance, unbound, action (Is Function: No), plug-in type
//   Dealcoach.Dynamics.DealcoachGuidancePlugin.
//   Request parameter  Path        String   the sidecar route the panel reads
//   Response property  StatusCode  Integer  the sidecar's HTTP status
//   Response property  Body        String   the sidecar's JSON (or its google.rpc.Status)
// Environment variables: dealcoach_SidecarUrl (Text: the sidecar's public https URL) and,
// optionally, dealcoach_SidecarToken (Text: sent as "Authorization: Bearer ...").
//
// Microsoft's rules for web access from sandboxed plug-ins apply: HTTP/HTTPS only, a DNS
// name (no IP address, no localhost), current TLS, and the sidecar's proxy must accept
// connections from the AzureCloud service tag's addresses
// (https://learn.microsoft.com/power-apps/developer/data-platform/access-web-services).
// The call has a 10 s timeout and closes its connection, as Microsoft's web-access sample
// does.
//
// Not compiled or run in dealcoach's CI (no .NET SDK, no Dataverse): build it as a .NET
// Framework 4.6.2 class library against Microsoft.CrmSdk.CoreAssemblies, sign the
// assembly, and register it with the Plug-in Registration tool.
using System;
using System.Linq;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using Microsoft.Xrm.Sdk;
using Microsoft.Xrm.Sdk.Query;

namespace Dealcoach.Dynamics
{
    public sealed class DealcoachGuidancePlugin : IPlugin
    {
        // Only what the panel reads: a deal's guidance or checklist, a rep's agenda.
        private static readonly Regex AllowedPath = new Regex(
            @"^/v1/(deals/[A-Za-z0-9._~%-]{1,128}/(guidance|checklist)|reps/[A-Za-z0-9._~%-]{1,128}/agenda)$",
            RegexOptions.CultureInvariant);

        public void Execute(IServiceProvider serviceProvider)
        {
            var context = (IPluginExecutionContext)serviceProvider.GetService(typeof(IPluginExecutionContext));
            var tracing = (ITracingService)serviceProvider.GetService(typeof(ITracingService));
            var factory = (IOrganizationServiceFactory)serviceProvider.GetService(typeof(IOrganizationServiceFactory));
            var service = factory.CreateOrganizationService(null); // system: reads the environment variables

            var path = context.InputParameters.Contains("Path") ? context.InputParameters["Path"] as string : null;
            if (path == null || !AllowedPath.IsMatch(path))
            {
                throw new InvalidPluginExecutionException(
                    "dealcoach_GetGuidance: Path must be /v1/deals/{id}/guidance, /v1/deals/{id}/checklist or /v1/reps/{id}/agenda");
            }
            var baseUrl = (EnvironmentVariable(service, "dealcoach_SidecarUrl") ?? "").TrimEnd('/');
            if (!baseUrl.StartsWith("https://", StringComparison.Ordinal))
            {
                throw new InvalidPluginExecutionException(
                    "dealcoach_GetGuidance: set the environment variable dealcoach_SidecarUrl to the sidecar's https:// URL");
            }
            var token = EnvironmentVariable(service, "dealcoach_SidecarToken");

            using (var client = new HttpClient())
            {
                client.Timeout = TimeSpan.FromSeconds(10);
                client.DefaultRequestHeaders.ConnectionClose = true;
                var request = new HttpRequestMessage(HttpMethod.Get, baseUrl + path);
                request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
                if (!string.IsNullOrEmpty(token))
                {
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                }
                // Who asked, for the sidecar's decision log (forwarded as gRPC metadata).
                request.Headers.Add("X-Dealcoach-Caller", context.InitiatingUserId.ToString());
                try
                {
                    using (var response = client.SendAsync(request).GetAwaiter().GetResult())
                    {
                        context.OutputParameters["StatusCode"] = (int)response.StatusCode;
                        context.OutputParameters["Body"] = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
                    }
                }
                catch (Exception e) when (e is HttpRequestException || e is TaskCanceledException)
                {
                    tracing.Trace("dealcoach_GetGuidance: GET {0}{1} failed: {2}", baseUrl, path, e);
                    // The google.rpc.Status shape the sidecar itself uses (14 = UNAVAILABLE).
                    context.OutputParameters["StatusCode"] = 503;
                    context.OutputParameters["Body"] =
                        "{\"code\":14,\"message\":\"Dataverse could not reach dealcoach (see the plug-in trace log)\"}";
                }
            }
        }

        // The current value of an environment variable, else its default; null when unset.
        private static string EnvironmentVariable(IOrganizationService service, string schemaName)
        {
            var query = new QueryExpression("environmentvariabledefinition")
            {
                ColumnSet = new ColumnSet("defaultvalue"),
                TopCount = 1,
            };
            query.Criteria.AddCondition("schemaname", ConditionOperator.Equal, schemaName);
            var value = query.AddLink("environmentvariablevalue", "environmentvariabledefinitionid",
                "environmentvariabledefinitionid", JoinOperator.LeftOuter);
            value.Columns = new ColumnSet("value");
            value.EntityAlias = "v";
            var row = service.RetrieveMultiple(query).Entities.FirstOrDefault();
            if (row == null) return null;
            var current = row.GetAttributeValue<AliasedValue>("v.value")?.Value as string;
            return !string.IsNullOrEmpty(current) ? current : row.GetAttributeValue<string>("defaultvalue");
        }
    }
}
