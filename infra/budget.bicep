metadata name = 'Gruppstart monthly budget'
metadata description = 'The monthly Cost Management budget of one instance\'s resource group, with notices to the alerts\' action group and e-mail. A template of its own, deployed by infra/deploy.sh after main.bicep: subscriptions that cannot have a budget (a CSP "Azure plan", some offers: the API answers 422) then get a warning instead of a failed deployment.'

targetScope = 'resourceGroup'

@description('Optional. Name of the budget, unique in the resource group; deploy.sh reads the existing budget\'s start date by this name (BUDGET_NAME there).')
@minLength(1)
@maxLength(63)
param budgetName string = 'gruppstart-monthly'

@description('Required. Monthly budget of the resource group\'s Azure costs, in the subscription\'s billing currency (Twilio bills the texts separately).')
@minValue(1)
param monthlyBudget int

@description('Optional. Percentage of monthlyBudget actually spent at which the budget notice goes out; a forecast of 100% sends one too.')
@minValue(1)
@maxValue(1000)
param budgetAlertPercent int = 80

@description('Optional. First day of the budget\'s first month, yyyy-MM-01. Azure refuses to change it later, so deploy.sh passes the existing budget\'s date; the default (this month) is for the first deployment.')
@minLength(10)
@maxLength(10)
param budgetStartDate string = utcNow('yyyy-MM-01')

@description('Optional. E-mail address that receives the budget notices (the file\'s alertEmail). Empty: the action group only.')
@maxLength(254)
param alertEmail string = ''

@description('Optional. Resource ID of the action group (main.bicep\'s AZURE_ACTION_GROUP_ID output) that receives the notices. Empty: e-mail only.')
param actionGroupId string = ''

var contactEmails = empty(alertEmail) ? [] : [
  alertEmail
]
var contactGroups = empty(actionGroupId) ? [] : [
  actionGroupId
]

// Azure costs only: the texts are billed by Twilio (see infra/README.md, What it costs).
resource budget 'Microsoft.Consumption/budgets@2023-11-01' = {
  name: budgetName
  properties: {
    category: 'Cost'
    amount: monthlyBudget
    timeGrain: 'Monthly'
    timePeriod: {
      startDate: budgetStartDate
    }
    notifications: {
      actual: {
        enabled: true
        operator: 'GreaterThanOrEqualTo'
        threshold: budgetAlertPercent
        thresholdType: 'Actual'
        contactEmails: contactEmails
        contactGroups: contactGroups
      }
      forecast: {
        enabled: true
        operator: 'GreaterThanOrEqualTo'
        threshold: 100
        thresholdType: 'Forecasted'
        contactEmails: contactEmails
        contactGroups: contactGroups
      }
    }
  }
}

@description('The name of the budget.')
output budgetName string = budget.name
