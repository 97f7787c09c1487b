metadata name = 'Gruppstart'
metadata description = 'One Gruppstart instance for one municipality or region: a Python Function App on the Flex Consumption plan with its storage (tables, queues, deployment container), user-assigned identity and least roles, Application Insights on Log Analytics, alerts, and a Key Vault for the two secrets (the monthly budget is infra/budget.bicep). Parameters come from infra/municipalities/<id>.json (see infra/deploy_params.py).'

targetScope = 'resourceGroup'

// ---------------------------------------------------------------------------------------------
// Parameters. Each one is a key of "deployment" in a municipality file, except organisation
// (the file's "organisation" document) and the two deployer* ones (deploy.sh fills them in).
// ---------------------------------------------------------------------------------------------

@description('Required. Azure region of every resource; one that offers Flex Consumption, e.g. swedencentral or norwayeast.')
param location string

@description('Required. Short prefix of every resource name: 2-10 lowercase letters, digits and single hyphens, starting with a letter, e.g. gs-rjl.')
@minLength(2)
@maxLength(10)
param namePrefix string

@description('Required. Sender of outgoing SMS (TWILIO_FROM): an E.164 number, which residents can reply STOP to, or an alphanumeric sender of at most 11 characters, which they cannot.')
@minLength(1)
@maxLength(16)
param smsSender string

@description('Required. The organisation document the app validates (the file\'s "organisation"); the app receives it as compact JSON in ORGANISATION_CONFIG.')
param organisation object

@description('Optional. Twilio Account SID (AC...). Empty: no SMS goes out through Twilio.')
@maxLength(34)
param twilioAccountSid string = ''

@description('Optional. Twilio Messaging Service SID (MG...). When set, Twilio picks the sender from the service.')
@maxLength(34)
param twilioMessagingServiceSid string = ''

@description('Optional. Most SMS sent per second, as a decimal number in text (Bicep has no decimal type), e.g. \'1\' for a single long code or \'10\'.')
@minLength(1)
@maxLength(8)
param smsRatePerSecond string = '10'

@description('Optional. NCRONTAB schedule (six fields, UTC) of the formation sweep.')
@minLength(11)
param formationSchedule string = '0 */5 * * * *'

@description('Optional. Days a new member may still join a group that has started.')
@minValue(0)
@maxValue(365)
param joinWindowDays int = 14

@description('Optional. Registrations one client address may make per hour.')
@minValue(1)
@maxValue(100000)
param clientRegistrationsPerHour int = 20

@description('Optional. Registrations one client network (an IPv4 /24 or an IPv6 /48) may make per hour.')
@minValue(1)
@maxValue(100000)
param clientNetworkRegistrationsPerHour int = 40

@description('Optional. Verification codes one phone number may receive per day (besides three an hour).')
@minValue(3)
@maxValue(100)
param codesPerNumberPerDay int = 5

@description('Optional. Verification texts the whole instance may send per hour: the bound on SMS pumping (fraudulent registrations that run up the Twilio bill). Size it to the population: a few times the busiest hour expected.')
@minValue(1)
@maxValue(100000)
param smsCodesPerHour int = 60

@description('Optional. Verification texts the whole instance may send per day (SMS pumping bound, as smsCodesPerHour).')
@minValue(1)
@maxValue(1000000)
param smsCodesPerDay int = 300

@description('Optional. Every text the whole instance may send per hour (codes, replies, forwards, meeting texts, reports); smsCodesPerHour of them are kept for codes, so it must be larger.')
@minValue(2)
@maxValue(1000000)
param smsTextsPerHour int = 600

@description('Optional. Every text the whole instance may send per day; must be larger than smsCodesPerDay (the codes\' share).')
@minValue(2)
@maxValue(10000000)
param smsTextsPerDay int = 3000

@description('Optional. Value of the Entra ID app role an operator must hold when App Service Authentication is on (ADMIN_APP_ROLE; see infra/README.md, Admin access).')
@minLength(1)
@maxLength(120)
param adminAppRole string = 'Gruppstart.Operator'

@description('Optional. NCRONTAB schedule (six fields, UTC) of the daily group lifecycle run (reminders, check-ins, closing groups).')
@minLength(11)
param lifecycleSchedule string = '0 0 7 * * *'

@description('Optional. Meetings the facilitator leads before a group goes on by itself.')
@minValue(1)
@maxValue(52)
param facilitatorMeetings int = 5

@description('Optional. Weeks after the start at which the facilitator gets a check-in SMS.')
@minValue(1)
@maxValue(104)
param checkInWeeks int = 7

@description('Optional. Days an interest that never joined a group is kept before it is erased.')
@minValue(1)
@maxValue(3650)
param retentionDays int = 180

@description('Optional. Days after a group closes before its members\' names and numbers are erased.')
@minValue(0)
@maxValue(3650)
param closedGroupRetentionDays int = 30

@description('Optional. Days after a group goes on its own before its members\' names and numbers are erased (the handover text gives the date).')
@minValue(0)
@maxValue(3650)
param onItsOwnRetentionDays int = 90

@description('Optional. Days after forming before a group still awaiting a facilitator or its first meeting is escalated to the coordinator.')
@minValue(1)
@maxValue(365)
param stuckGroupDays int = 21

@description('Optional. Weeks without a recorded meeting before an active group is reported to the coordinator (once).')
@minValue(1)
@maxValue(104)
param quietGroupWeeks int = 8

@description('Optional. Weeks after that report before a group still without a recorded meeting is handed over to its members (they are told; the erasure clock of a group on its own starts).')
@minValue(1)
@maxValue(104)
param quietGroupHandoverWeeks int = 4

@description('Optional. Hours the SMS provider keeps its copy of a text (number and body) after sending, before the daily run deletes it.')
@minValue(0)
@maxValue(2160)
param smsProviderCopyHours int = 24

@description('Optional. Public base URL when a custom domain fronts the app, without a trailing slash. Empty: https://<function app>.azurewebsites.net.')
param publicBaseUrl string = ''

@description('Optional. The id of the Azure Front Door profile in front of the app (its X-Azure-FDID, a GUID), when one serves a custom domain. The app then counts a request carrying this id by Front Door\'s X-Azure-SocketIP. Empty: no Front Door.')
param frontDoorId string = ''

@description('Optional. Client ID of an Entra ID app registration that signs operators in to the admin pages (see infra/README.md). Empty: App Service Authentication stays off and ADMIN_TOKEN alone protects the admin routes.')
param adminSignInClientId string = ''

@description('Optional. Upper bound of Function App instances.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Optional. Memory of each app instance in MB: 512, 2048 or 4096 (what Flex Consumption offers). The app peaks near 110 MiB, and 512 costs a quarter of 2048 per second of execution.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Optional. Most HTTP requests one instance serves at once before Flex Consumption adds another. Python apps get 1 when it is unset (learn.microsoft.com/azure/azure-functions/functions-concurrency), which makes every concurrent request a new instance and a cold start; the web handlers wait on storage and Twilio without blocking the event loop, so an instance carries many: 16 for 2048 MB; about 8 for a 512 MB instance (a quarter core), whose CPU runs out first.')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int = 16

@description('Optional. Days Log Analytics keeps logs and telemetry.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@description('Optional. E-mail address (the coordinator\'s, or a shared mailbox) that receives the alerts and budget notices. Give it, alertPhone, or both.')
@maxLength(254)
param alertEmail string = ''

@description('Optional. Swedish (+46...) or Norwegian (+47...) number in E.164 that receives the alerts. Give it, alertEmail, or both.')
@maxLength(16)
param alertPhone string = ''

@description('Optional. How alertPhone is reached: sms or voice. Azure Monitor sends no SMS to Sweden: use voice there.')
@allowed([
  'sms'
  'voice'
])
param alertPhoneBy string = 'voice'

@description('Optional. Percentage of texts failing permanently within an hour that raises an alert.')
@minValue(1)
@maxValue(100)
param failedTextAlertPercent int = 20

@description('Optional. Percentage of HTTP requests answered with a 5xx within 15 minutes that raises an alert.')
@minValue(1)
@maxValue(100)
param serverErrorAlertPercent int = 5

@description('Optional. Failed queue or timer function runs within 15 minutes that raise an alert.')
@minValue(1)
@maxValue(1000)
param functionFailureAlertCount int = 1

@description('Optional. Object ID of the principal running the deployment, given Key Vault Secrets Officer so it can write the secrets. deploy.sh fills it in; empty: no assignment.')
param deployerPrincipalId string = ''

@description('Optional. Kind of the deploying principal.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param deployerPrincipalType string = 'User'

@description('Optional. Tags added to every resource.')
param tags object = {}

// ---------------------------------------------------------------------------------------------
// Names: the prefix plus a token unique to the subscription, resource group and prefix.
// ---------------------------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, namePrefix))
var allTags = union(tags, {
  app: 'gruppstart'
  municipality: organisation.id
})
var names = {
  identity: 'id-${namePrefix}-${resourceToken}'
  storage: take('st${replace(namePrefix, '-', '')}${resourceToken}', 24)
  logAnalytics: 'log-${namePrefix}-${resourceToken}'
  applicationInsights: 'appi-${namePrefix}-${resourceToken}'
  keyVault: take('kv-${namePrefix}-${resourceToken}', 24)
  plan: 'plan-${namePrefix}-${resourceToken}'
  functionApp: 'func-${namePrefix}-${resourceToken}'
  actionGroup: 'ag-${namePrefix}-${resourceToken}'
  alerts: 'alert-${namePrefix}-${resourceToken}'
}
var deploymentContainerName = 'app-package'

// What the app uses in storage; it also creates any that are missing.
var queueNames = [
  'formation-requests'
  'formation-requests-poison'
  'notifications'
  'notifications-poison'
  'stop-requests'
  'stop-requests-poison'
]
var tableNames = [
  'interests'
  'facilitators'
  'ratelimits'
  'audit'
  'smscopies'
]

// Names of the Key Vault secrets that deploy.sh writes.
var twilioAuthTokenSecretName = 'twilio-auth-token'
var adminTokenSecretName = 'admin-token'
var phoneKeySecretName = 'phone-key-secret'
var facilitatorLinkSecretName = 'facilitator-link-secret'

// Paths App Service Authentication leaves open when it is on: every route the web app serves except
// the operators' (/manage, /api/admin), written from the app's routes by infra/public_paths.py
// (tests/infra checks the file is current). excludedPaths cannot say "all but /manage": an entry is
// a path or a path/* prefix, with no negation (see public_paths.py). On /manage and /api/admin the
// app trusts the sign-in headers, so the platform must be the one setting them.
var publicPaths = loadJsonContent('public-paths.json')

// ---------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: names.identity
    location: location
    tags: allTags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.applicationInsights
    location: location
    retentionInDays: logRetentionDays
    tags: allTags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: names.storage
    location: location
    deploymentContainerName: deploymentContainerName
    queueNames: queueNames
    tableNames: tableNames
    logAnalyticsWorkspaceId: monitoring.outputs.workspaceId
    tags: allTags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: names.keyVault
    location: location
    logAnalyticsWorkspaceId: monitoring.outputs.workspaceId
    tags: allTags
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  params: {
    appPrincipalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    deployerPrincipalId: deployerPrincipalId
    deployerPrincipalType: deployerPrincipalType
  }
}

// Every setting the app reads (shared/settings.py), by its app-setting name; the function app
// module adds PUBLIC_BASE_URL. tests/infra checks this list against the Settings class both ways.
var appSettings = {
  // Storage through the managed identity; the host reads the same three settings.
  AzureWebJobsStorage__accountName: storage.outputs.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.outputs.clientId
  // Telemetry through the managed identity (the component refuses keys).
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.connectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.outputs.clientId};Authorization=AAD'
  ORGANISATION_CONFIG: string(organisation)
  FORMATION_SCHEDULE: formationSchedule
  JOIN_WINDOW_DAYS: string(joinWindowDays)
  CLIENT_REGISTRATIONS_PER_HOUR: string(clientRegistrationsPerHour)
  CLIENT_NETWORK_REGISTRATIONS_PER_HOUR: string(clientNetworkRegistrationsPerHour)
  CODES_PER_NUMBER_PER_DAY: string(codesPerNumberPerDay)
  SMS_CODES_PER_HOUR: string(smsCodesPerHour)
  SMS_CODES_PER_DAY: string(smsCodesPerDay)
  SMS_TEXTS_PER_HOUR: string(smsTextsPerHour)
  SMS_TEXTS_PER_DAY: string(smsTextsPerDay)
  LIFECYCLE_SCHEDULE: lifecycleSchedule
  FACILITATOR_MEETINGS: string(facilitatorMeetings)
  CHECK_IN_WEEKS: string(checkInWeeks)
  RETENTION_DAYS: string(retentionDays)
  CLOSED_GROUP_RETENTION_DAYS: string(closedGroupRetentionDays)
  ON_ITS_OWN_RETENTION_DAYS: string(onItsOwnRetentionDays)
  STUCK_GROUP_DAYS: string(stuckGroupDays)
  QUIET_GROUP_WEEKS: string(quietGroupWeeks)
  QUIET_GROUP_HANDOVER_WEEKS: string(quietGroupHandoverWeeks)
  SMS_PROVIDER_COPY_HOURS: string(smsProviderCopyHours)
  FRONT_DOOR_ID: frontDoorId
  // The facilitators' page: links live two weeks, the session a link opens half an hour (issue 19.1).
  FACILITATOR_LINK_DAYS: '14'
  FACILITATOR_SESSION_MINUTES: '30'
  // The admin pages trust the platform's sign-in headers only where App Service Authentication
  // is on, and it is on exactly when adminSignInClientId is given.
  APP_SERVICE_AUTH: empty(adminSignInClientId) ? 'false' : 'true'
  ADMIN_APP_ROLE: adminAppRole
  SMS_RATE_PER_SECOND: smsRatePerSecond
  TWILIO_ACCOUNT_SID: twilioAccountSid
  TWILIO_FROM: smsSender
  TWILIO_MESSAGING_SERVICE_SID: twilioMessagingServiceSid
  // Secrets: Key Vault references, resolved with the identity (keyVaultReferenceIdentity).
  TWILIO_AUTH_TOKEN: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.uri}secrets/${twilioAuthTokenSecretName}/)'
  ADMIN_TOKEN: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.uri}secrets/${adminTokenSecretName}/)'
  PHONE_KEY_SECRET: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.uri}secrets/${phoneKeySecretName}/)'
  FACILITATOR_LINK_SECRET: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.uri}secrets/${facilitatorLinkSecretName}/)'
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    identityResourceId: identity.outputs.resourceId
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    appSettings: appSettings
    publicBaseUrl: publicBaseUrl
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    adminSignInClientId: adminSignInClientId
    adminSignInExcludedPaths: publicPaths
    tags: allTags
  }
  // The app must be able to read storage and the vault the moment it starts.
  dependsOn: [
    roles
  ]
}

// Someone hears when it breaks: alerts to the file's contacts. The monthly budget is a template of
// its own (infra/budget.bicep), deployed after this one, because some subscriptions cannot have one
// (a CSP "Azure plan" answers 422) and that must not fail the deployment of the app.
module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    actionGroupName: names.actionGroup
    actionGroupShortName: namePrefix
    namePrefix: names.alerts
    location: location
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    alertEmail: alertEmail
    alertPhone: alertPhone
    alertPhoneBy: alertPhoneBy
    failedTextAlertPercent: failedTextAlertPercent
    serverErrorAlertPercent: serverErrorAlertPercent
    functionFailureAlertCount: functionFailureAlertCount
    tags: allTags
  }
}

// ---------------------------------------------------------------------------------------------
// Outputs (azd copies them into its environment; deploy.sh reads them)
// ---------------------------------------------------------------------------------------------

@description('The Function App\'s name.')
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name

@description('The Function App\'s resource ID.')
output AZURE_FUNCTION_APP_ID string = functionApp.outputs.resourceId

@description('The Key Vault\'s name.')
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name

@description('The storage account\'s name.')
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name

@description('The base URL of the public form, the API and the Twilio webhooks.')
output PUBLIC_BASE_URL string = functionApp.outputs.publicBaseUrl

@description('The Key Vault secret holding the Twilio auth token.')
output TWILIO_AUTH_TOKEN_SECRET_NAME string = twilioAuthTokenSecretName

@description('The Key Vault secret holding the admin token.')
output ADMIN_TOKEN_SECRET_NAME string = adminTokenSecretName

@description('The action group\'s resource ID: infra/budget.bicep sends the budget notices to it.')
output AZURE_ACTION_GROUP_ID string = alerts.outputs.actionGroupId
