metadata name = 'Gruppstart monitoring'
metadata description = 'A Log Analytics workspace and a workspace-based Application Insights component that accepts only Entra ID (managed identity) ingestion.'

@description('Required. Name of the Log Analytics workspace.')
@minLength(4)
@maxLength(63)
param logAnalyticsName string

@description('Required. Name of the Application Insights component.')
@minLength(1)
@maxLength(260)
param applicationInsightsName string

@description('Required. Azure region of both resources.')
param location string

@description('Optional. Days the workspace keeps logs. 30 is included in the ingestion price; longer costs extra.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

@description('Optional. Daily ingestion cap in GB; -1 for none. A cap bounds the cost of a runaway log loop.')
param dailyQuotaGb int = 1

@description('Optional. Tags of the resources.')
param tags object = {}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    workspaceCapping: {
      dailyQuotaGb: dailyQuotaGb
    }
    features: {
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
    // Telemetry is accepted only with an Entra ID token (the app's managed identity); the
    // connection string alone is not enough to write into it.
    DisableLocalAuth: true
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

@description('The resource ID of the Log Analytics workspace.')
output workspaceId string = workspace.id

@description('The resource ID of the Application Insights component.')
output applicationInsightsId string = applicationInsights.id

@description('The name of the Application Insights component.')
output applicationInsightsName string = applicationInsights.name

@description('The connection string of the Application Insights component (not a secret: ingestion needs Entra ID).')
output connectionString string = applicationInsights.properties.ConnectionString
