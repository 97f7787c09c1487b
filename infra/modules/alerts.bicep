metadata name = 'Gruppstart alerts'
metadata description = 'Tells the municipality when the instance breaks: log search alerts on Application Insights (a message in a poison queue, a rate of failed texts, a rate of server errors, failed function runs, a timer that has not run), all to one action group (e-mail and/or a phone) that the budget (infra/budget.bicep) notifies too.'

@description('Required. Name of the action group.')
@minLength(1)
@maxLength(260)
param actionGroupName string

@description('Required. Short name of the action group, shown in its e-mails and texts (at most 12 characters).')
@minLength(1)
@maxLength(12)
param actionGroupShortName string

@description('Required. Prefix of the alert rule names.')
@minLength(1)
@maxLength(40)
param namePrefix string

@description('Required. Azure region of the alert rules (that of Application Insights).')
param location string

@description('Required. Resource ID of the Application Insights component the rules query.')
param applicationInsightsId string

@description('Optional. E-mail address that receives the alerts. Empty: none.')
param alertEmail string = ''

@description('Optional. Swedish (+46...) or Norwegian (+47...) number in E.164 that receives the alerts. Empty: none.')
param alertPhone string = ''

@description('Optional. How the phone is reached: sms or voice. Azure Monitor sends SMS to Norway but not to Sweden; it calls both.')
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

@description('Optional. Window in which the formation sweep must have run at least once, or an alert fires (ISO 8601). The default suits the default schedule, every 5 minutes: six runs missed.')
@allowed([
  'PT15M'
  'PT30M'
  'PT1H'
  'PT2H'
  'PT6H'
])
param formationSweepWindow string = 'PT30M'

@description('Optional. Window in which the daily lifecycle run must have run at least once, or an alert fires (ISO 8601). The default, two days, means one daily run missed.')
@allowed([
  'P1D'
  'P2D'
])
param lifecycleRunWindow string = 'P2D'

@description('Optional. Tags of the resources.')
param tags object = {}

var phoneReceiver = {
  name: 'phone'
  countryCode: empty(alertPhone) ? '' : substring(alertPhone, 1, 2)
  phoneNumber: empty(alertPhone) ? '' : substring(alertPhone, 3)
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: actionGroupShortName
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      {
        name: 'email'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
    smsReceivers: !empty(alertPhone) && alertPhoneBy == 'sms' ? [
      phoneReceiver
    ] : []
    voiceReceivers: !empty(alertPhone) && alertPhoneBy == 'voice' ? [
      phoneReceiver
    ] : []
  }
}

// Each rule is a KQL query over the Application Insights tables that host.json keeps filled:
// requests (Host.Results), traces (Function.* and the app's own log lines). A rule fires when
// its query returns a row. tests/infra/test_alerts.py checks the log lines they match exist.
// The last two are liveness rules: the others fire on a positive signal, so a host that never
// starts, or telemetry that stops, would raise none. These fire on an absence: no successful run of a
// timer function in its window. The requests table holds one row per invocation (Host.Results at
// Information in host.json) and is never sampled (excludedTypes "Request"), so a missing row is a
// missing run; summarize over no rows still returns one row (runs = 0), which the where keeps.
var rules = [
  {
    name: 'poison-queue'
    displayName: 'Gruppstart: a message went to a poison queue'
    description: 'A queue message failed every retry (host.json maxDequeueCount) and was moved to formation-requests-poison or notifications-poison. The runbook in infra/README.md says what to do.'
    severity: 1
    window: 'PT15M'
    frequency: 'PT15M'
    query: 'traces | where message has "Moving message to queue" and message has "-poison"'
  }
  {
    name: 'failed-texts'
    displayName: 'Gruppstart: texts are failing'
    description: 'At least ${failedTextAlertPercent}% of the texts sent in the last hour failed permanently (an invalid number, a blocked sender, a suspended Twilio account).'
    severity: 2
    window: 'PT1H'
    frequency: 'PT15M'
    query: 'traces | where message startswith "notification " | parse message with "notification " outcome:string " (attempt " * | summarize sent = countif(outcome == "sent"), failed = countif(outcome == "failed") | where failed > 0 and failed * 100 >= (sent + failed) * ${failedTextAlertPercent}'
  }
  {
    name: 'server-errors'
    displayName: 'Gruppstart: the web app answers with server errors'
    description: 'At least ${serverErrorAlertPercent}% of the HTTP requests in the last 15 minutes were answered with a 5xx status.'
    severity: 1
    window: 'PT15M'
    frequency: 'PT15M'
    query: 'requests | where isnotempty(url) | summarize total = count(), errors = countif(toint(resultCode) >= 500) | where errors > 0 and errors * 100 >= total * ${serverErrorAlertPercent}'
  }
  {
    name: 'function-failures'
    displayName: 'Gruppstart: queue or timer functions fail'
    description: 'At least ${functionFailureAlertCount} runs of the formation, notification or lifecycle functions failed in the last 15 minutes (storage or Twilio unreachable, a bug).'
    severity: 2
    window: 'PT15M'
    frequency: 'PT15M'
    query: 'requests | where isempty(url) and success == false | summarize failures = count() | where failures >= ${functionFailureAlertCount}'
  }
  {
    name: 'formation-sweep-silent'
    displayName: 'Gruppstart: the formation sweep has not run'
    description: 'No successful run of the formation sweep (sweep_formation) in the last ${formationSweepWindow}: the app may not start, its timer may be stuck, or its telemetry stopped. Groups do not form and texts left pending are not re-sent.'
    severity: 1
    window: formationSweepWindow
    frequency: 'PT15M'
    query: 'requests | where operation_Name == "sweep_formation" and success == true | summarize runs = count() | where runs == 0'
  }
  {
    name: 'lifecycle-silent'
    displayName: 'Gruppstart: the daily lifecycle run has not run'
    description: 'No successful run of the daily lifecycle (run_lifecycle) in the last ${lifecycleRunWindow}: reminders, check-ins and the erasure that retention promises are not happening.'
    severity: 1
    window: lifecycleRunWindow
    frequency: 'PT1H'
    query: 'requests | where operation_Name == "run_lifecycle" and success == true | summarize runs = count() | where runs == 0'
  }
]

resource alertRules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for rule in rules: {
  name: '${namePrefix}-${rule.name}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: rule.displayName
    description: rule.description
    severity: rule.severity
    enabled: true
    evaluationFrequency: rule.frequency
    windowSize: rule.window
    scopes: [
      applicationInsightsId
    ]
    targetResourceTypes: [
      'microsoft.insights/components'
    ]
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}]

@description('The resource ID of the action group.')
output actionGroupId string = actionGroup.id
