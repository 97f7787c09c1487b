metadata name = 'Gruppstart Function App'
metadata description = 'A Python Function App on the Flex Consumption plan (Linux) that runs as a user-assigned managed identity, deploys from a blob container with that identity, and optionally puts the admin pages behind App Service Authentication (Entra ID).'

@description('Required. Name of the Function App; also the first label of its host name.')
@minLength(2)
@maxLength(60)
param name string

@description('Required. Name of the Flex Consumption plan.')
@minLength(1)
@maxLength(60)
param planName string

@description('Required. Azure region of the plan and the app (one where Flex Consumption is offered).')
param location string

@description('Required. Resource ID of the user-assigned managed identity the app runs as.')
param identityResourceId string

@description('Required. Blob endpoint of the storage account holding the deployment container, ending in a slash.')
param storageBlobEndpoint string

@description('Required. Name of the blob container the package is deployed to.')
param deploymentContainerName string

@description('Required. The app settings (except PUBLIC_BASE_URL, which this module adds).')
param appSettings object

@description('Optional. The public base URL when a custom domain fronts the app. Empty: https:// and the app\'s default host name.')
param publicBaseUrl string = ''

@description('Optional. Python version of the Flex Consumption runtime.')
@allowed([
  '3.11'
])
param pythonVersion string = '3.11'

@description('Optional. Upper bound of instances the plan scales out to; bounds cost and the load on Twilio and storage.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Optional. Memory of each instance in MB: 512, 2048 (the platform default) or 4096, the sizes Flex Consumption offers. Billing is per GB-second, so 512 costs a quarter of 2048.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Optional. Most HTTP requests one instance handles at once (scaleAndConcurrency.triggers.http.perInstanceConcurrency); beyond it the plan adds an instance. Unset, Python apps get 1 (learn.microsoft.com/azure/azure-functions/functions-concurrency: "For Python apps, the default HTTP trigger concurrency for all instances sizes is 1").')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int = 16

@description('Optional. Client ID of an Entra ID app registration that signs operators in to the admin pages. Empty: App Service Authentication stays off and ADMIN_TOKEN alone protects the admin routes.')
param adminSignInClientId string = ''

@description('Optional. Paths App Service Authentication leaves open (the public form, its API, the Twilio webhooks); a trailing /* covers everything below a path. Used only with adminSignInClientId.')
param adminSignInExcludedPaths array = []

@description('Optional. Tags of the resources.')
param tags object = {}

var signInEnabled = !empty(adminSignInClientId)

// authsettingsV2 parts: operators sign in with Entra ID on every path but the excluded ones.
var validationSignedIn = {
  requireAuthentication: true
  unauthenticatedClientAction: 'RedirectToLoginPage'
  redirectToProvider: 'azureactivedirectory'
  excludedPaths: adminSignInExcludedPaths
}
var validationOpen = {
  requireAuthentication: false
  unauthenticatedClientAction: 'AllowAnonymous'
}
var providersEntraId = {
  azureActiveDirectory: {
    enabled: true
    registration: {
      clientId: adminSignInClientId
      openIdIssuer: '${environment().authentication.loginEndpoint}${subscription().tenantId}/v2.0'
    }
    validation: {
      allowedAudiences: [
        adminSignInClientId
        'api://${adminSignInClientId}'
      ]
    }
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    // checkov:skip=CKV_AZURE_225: zone redundancy of Flex Consumption plans is offered only in some regions; the pipeline tolerates a zone outage (queued work waits, nothing is lost) and storage is zone-redundant.
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  // azd finds the app to publish to by this tag.
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityResourceId}': {}
    }
  }
  properties: {
    // checkov:skip=CKV_AZURE_17: residents' browsers and Twilio's webhooks cannot present client certificates.
    // checkov:skip=CKV_AZURE_222: the resident form and the Twilio webhooks must be reachable from the internet.
    // checkov:skip=CKV_AZURE_212: Flex Consumption scales out per request from zero; numberOfWorkers does not apply to it.
    // checkov:skip=CKV_AZURE_78: Flex Consumption has no FTP and refuses siteConfig.ftpsState (learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations); FTP and SCM basic-auth publishing are off below.
    // checkov:skip=CKV_AZURE_18: http20Enabled is set by none of Microsoft's Flex Consumption templates and its effect on a Flex site is undocumented; the platform default stands.
    // checkov:skip=CKV_AZURE_67: as CKV_AZURE_18: no http20Enabled on a Flex Consumption site.
    // checkov:skip=CKV_AZURE_213: the App Service health-check ping would keep an instance running on a plan billed per execution; Application Insights watches failures instead.
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: identityResourceId
    // Only what Microsoft's own Flex templates set: Flex refuses ftpsState (FTP does not exist
    // there; basic publishing credentials are off below), and tests/infra/test_flex_consumption.py
    // holds the documented list of what else it refuses.
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityResourceId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        // The web app is async and its handlers do not block the event loop (docs/architecture.md),
        // so one instance serves many residents at once instead of one cold start per request.
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// checkov reads every sites/config resource as if it were the site's 'web' config; the checks
// skipped below read properties that do not exist on an 'appsettings' or 'authsettingsV2' config.
resource siteAppSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(appSettings, {
    // checkov:skip=CKV_AZURE_13: an appsettings config; App Service Authentication lives in the authsettingsV2 config below.
    // checkov:skip=CKV_AZURE_63: an appsettings config has no HTTP logging property; Application Insights records requests.
    // checkov:skip=CKV_AZURE_65: an appsettings config has no detailed-error property; Application Insights records exceptions.
    // checkov:skip=CKV_AZURE_66: an appsettings config has no request-tracing property; Application Insights traces requests.
    // checkov:skip=CKV_AZURE_80: an appsettings config, and the app is Python, not .NET.
    // checkov:skip=CKV_AZURE_88: an appsettings config; the app keeps no files (all state is in Table Storage).
    // checkov:skip=CKV_AZURE_222: an appsettings config; the site itself must stay reachable for the public form and the Twilio webhooks.
    PUBLIC_BASE_URL: empty(publicBaseUrl) ? 'https://${site.properties.defaultHostName}' : publicBaseUrl
  })
}

// Publishing uses Entra ID tokens (az CLI, azd); basic-auth publishing credentials stay off.
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

// App Service Authentication (Entra ID) in front of the admin pages when adminSignInClientId is
// given; off otherwise. Deployed either way so that turning it off in a municipality file turns
// it off in Azure too.
resource signIn 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'authsettingsV2'
  properties: {
    // checkov:skip=CKV_AZURE_13: reads the retired authsettings (v1) 'enabled' flag; this is authsettingsV2, whose switch is platform.enabled.
    // checkov:skip=CKV_AZURE_63: an authsettingsV2 config has no HTTP logging property; Application Insights records requests.
    // checkov:skip=CKV_AZURE_65: an authsettingsV2 config has no detailed-error property; Application Insights records exceptions.
    // checkov:skip=CKV_AZURE_66: an authsettingsV2 config has no request-tracing property; Application Insights traces requests.
    // checkov:skip=CKV_AZURE_80: an authsettingsV2 config, and the app is Python, not .NET.
    // checkov:skip=CKV_AZURE_88: an authsettingsV2 config; the app keeps no files (all state is in Table Storage).
    // checkov:skip=CKV_AZURE_222: an authsettingsV2 config; the site itself must stay reachable for the public form and the Twilio webhooks.
    platform: {
      enabled: signInEnabled
    }
    globalValidation: signInEnabled ? validationSignedIn : validationOpen
    httpSettings: {
      requireHttps: true
      forwardProxy: {
        convention: 'NoProxy'
      }
    }
    identityProviders: signInEnabled ? providersEntraId : {}
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}

@description('The name of the Function App.')
output name string = site.name

@description('The resource ID of the Function App.')
output resourceId string = site.id

@description('The default host name, e.g. <name>.azurewebsites.net.')
output defaultHostName string = site.properties.defaultHostName

@description('The public base URL the app builds links and webhook URLs from.')
output publicBaseUrl string = empty(publicBaseUrl) ? 'https://${site.properties.defaultHostName}' : publicBaseUrl
